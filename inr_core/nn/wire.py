"""WIRE (Saragadam et al. 2023): MLP layers with the complex Gabor wavelet activation.

``act(z) = exp(i omega0 z - |s0 z|^2)``. The first layer is a real linear map of real inputs; later
layers are complex linear maps of the complex activations.

Hidden layers start with SIREN's scaling (weights shrunk by sqrt(6) / omega0, so ``omega0 z`` has
unit spread). With the default ``nn.Linear`` init every layer multiplies phase perturbations by about
omega0, the stack is chaotic in its first-layer weights, and a 7-layer WIRE on KP-INR's 576-dim
encoding did not fit k-space at all (relative error 1.00 after 300 full-batch steps; 0.29 with this init).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def gabor_wavelet(z: torch.Tensor, omega0: float, s0: float) -> torch.Tensor:
    # Same value as torch.exp(1j * omega0 * z - |s0 z|^2), written with real exp/cos/sin: the complex
    # exp kernel is several times slower on the CPU and dominated the P-INR step time.
    if not z.is_complex():
        return torch.polar(torch.exp(-(s0 * z) ** 2), omega0 * z)
    return torch.polar(torch.exp(-omega0 * z.imag - s0**2 * (z.real**2 + z.imag**2)), omega0 * z.real)


class WireLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, omega0: float = 30.0, s0: float = 10.0,
                 first: bool = False):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, dtype=torch.float32 if first else torch.complex64)
        self.omega0, self.s0, self.first = omega0, s0, first
        if not first:
            with torch.no_grad():
                self.linear.weight.mul_(math.sqrt(6) / omega0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.first and not x.is_complex():
            x = x.to(torch.complex64)
        return gabor_wavelet(self.linear(x), self.omega0, self.s0)
