"""Operators: Fourier, sampling, coil sensitivities, NUFFT, finite differences."""

from inr_core.operators.base import (
    Identity,
    LinearOperator,
    adjointness_error,
    dot,
    power_iteration,
)
from inr_core.operators.finite_difference import TemporalDifference
from inr_core.operators.fourier import FFT2, CartesianSampling
from inr_core.operators.nufft import RadialNUFFT, TorchKbNufftBackend, radial_density
from inr_core.operators.sense import CoilSensitivity

__all__ = [
    "FFT2",
    "CartesianSampling",
    "CoilSensitivity",
    "Identity",
    "LinearOperator",
    "RadialNUFFT",
    "TemporalDifference",
    "TorchKbNufftBackend",
    "adjointness_error",
    "dot",
    "power_iteration",
    "radial_density",
]
