"""Coil sensitivity (SENSE expansion) operator."""

from __future__ import annotations

import torch

from inr_core.operators.base import LinearOperator


class CoilSensitivity(LinearOperator):
    """``(T, ny, nx)`` image -> ``(T, C, ny, nx)`` coil images ``s_c * x``.

    The adjoint is the SENSE coil combination without normalisation, ``sum_c conj(s_c) y_c``;
    with maps normalised to ``sum_c |s_c|^2 = 1`` inside the object it is also the inverse there.
    """

    def __init__(self, maps: torch.Tensor):
        if maps.ndim != 3:
            raise ValueError(f"coil maps must be (coils, ny, nx), got {tuple(maps.shape)}")
        self.maps = maps

    def forward(self, x):
        return x.unsqueeze(-3) * self.maps

    def adjoint(self, y):
        return (self.maps.conj() * y).sum(dim=-3)

    @property
    def gram(self):
        return _Weight((self.maps.abs() ** 2).sum(dim=0))


class _Weight(LinearOperator):
    def __init__(self, w):
        self.w = w

    def forward(self, x):
        return x * self.w

    adjoint = forward
