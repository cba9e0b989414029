"""Coordinate encodings: NeRF-style sinusoids with log-spaced bands, and Gaussian Fourier features.

The KP-INR paper gives 480 spatial inputs for (kx, ky), i.e. 120 bands per coordinate with sin and
cos. NeRF's octave bands ``2^l`` are useless long before l = 120 (float32 loses the phase), so the
bands here are log-spaced from 1 to ``max_freq`` (default: half the matrix size, the highest
frequency a k-space signal of an object filling the field of view has in coordinates in [-1, 1]).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class NerfEncoding(nn.Module):
    """``[sin(pi f_l p), cos(pi f_l p)]`` for every coordinate p in [-1, 1] and band f_l."""

    freqs: torch.Tensor  # a buffer (declared for the type checker: nn.Module's attributes are untyped)

    def __init__(self, dims: int, bands: int, max_freq: float):
        super().__init__()
        freqs = torch.logspace(0.0, math.log10(max(max_freq, 1.0)), bands) if bands > 1 else torch.ones(1)
        self.register_buffer("freqs", freqs)
        self.out_features = 2 * dims * bands

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        arg = math.pi * p[..., :, None] * self.freqs  # (..., dims, bands)
        return torch.cat([arg.sin(), arg.cos()], dim=-1).flatten(-2)


class GaussianFourierFeatures(nn.Module):
    """``[sin(2 pi B p), cos(2 pi B p)]`` with a fixed random ``B ~ N(0, sigma^2)`` (Tancik et al.)."""

    b: torch.Tensor  # a buffer

    def __init__(self, dims: int, features: int, sigma: float, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("b", torch.randn(dims, features, generator=g) * sigma)
        self.out_features = 2 * features

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        arg = 2 * math.pi * p @ self.b
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


def frequency_encoding(p: torch.Tensor, degree: int) -> torch.Tensor:
    """``[p, sin(2^k pi p), cos(2^k pi p)]`` for k < degree, per column of ``p`` (NeRF, DA-INR eq. 5)."""
    freqs = (2.0 ** torch.arange(degree, device=p.device, dtype=p.dtype)) * math.pi
    arg = p[..., None] * freqs  # (n, d, degree)
    return torch.cat([p, arg.sin().flatten(-2), arg.cos().flatten(-2)], dim=-1)
