"""Cartesian Fourier operators on ``(..., ny, nx)`` tensors (centred, orthonormal; see ``inr_core.fft``)."""

from __future__ import annotations

import torch

from inr_core.fft import fft2c, ifft2c
from inr_core.operators.base import LinearOperator


class FFT2(LinearOperator):
    """Centred orthonormal 2D FFT over the last two axes; unitary, so its gram is the identity."""

    def forward(self, x):
        return fft2c(x)

    def adjoint(self, y):
        return ifft2c(y)

    @property
    def gram(self):
        from inr_core.operators.base import Identity

        return Identity()


class CartesianSampling(LinearOperator):
    """Masked FFT: ``(T, C, ny, nx)`` images -> ``(T, C, ny, nx)`` k-space, zero where not acquired.

    ``mask`` is ``(T, ny)`` bool (phase-encode lines per frame; readout fully sampled). The gram
    ``F^H M F`` costs two FFTs and no extra memory, which CG relies on.
    """

    def __init__(self, mask: torch.Tensor):
        if mask.ndim != 2:
            raise ValueError(f"mask must be (frames, ny), got {tuple(mask.shape)}")
        # (T, 1, ny, 1): broadcasts over coils and readout.
        self.mask = mask.to(torch.bool)[:, None, :, None]

    def forward(self, x):
        return fft2c(x) * self.mask

    def adjoint(self, y):
        return ifft2c(y * self.mask)

    @property
    def gram(self):
        return _MaskedGram(self.mask)


class _MaskedGram(LinearOperator):
    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        return ifft2c(fft2c(x) * self.mask)

    adjoint = forward
