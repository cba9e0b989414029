"""Finite differences along time, the sparsifying transform of GRASP."""

from __future__ import annotations

import torch

from inr_core.operators.base import LinearOperator


class TemporalDifference(LinearOperator):
    """``(T, ...) -> (T, ...)``: ``(Dx)_t = x_{t+1} - x_t``.

    ``cyclic=True`` (default) wraps the last frame onto the first: a cine series covers one
    cardiac cycle, so frame T-1 is followed by frame 0 and the wrap-around difference is as small
    as any other. With ``cyclic=False`` the last output frame is zero (Neumann boundary), so the
    shape stays ``(T, ...)`` either way.
    """

    def __init__(self, cyclic: bool = True):
        self.cyclic = cyclic

    def forward(self, x):
        if self.cyclic:
            return torch.roll(x, -1, dims=0) - x
        d = torch.zeros_like(x)
        d[:-1] = x[1:] - x[:-1]
        return d

    def adjoint(self, y):
        if self.cyclic:
            return torch.roll(y, 1, dims=0) - y
        x = torch.zeros_like(y)
        x[1:] += y[:-1]
        x[:-1] -= y[:-1]
        return x
