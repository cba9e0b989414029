"""Operators: Fourier, sampling, coil sensitivities, NUFFT, finite differences."""

from inr_core.operators.base import (
    Identity,
    LinearOperator,
    adjointness_error,
    dot,
    power_iteration,
)

__all__ = ["Identity", "LinearOperator", "adjointness_error", "dot", "power_iteration"]
