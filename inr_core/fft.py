"""The one Fourier convention of the project: centred, orthonormal, over the last two axes.

k-space index ny//2 (and nx//2) is the DC sample, as ISMRMRD's ``center_sample`` and
``kspace_encoding_step_1.center`` put it for even matrices.
"""

import torch

_DIMS = (-2, -1)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Image -> k-space, centred and orthonormal over the last two axes."""
    x = torch.fft.ifftshift(x, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.fft2(x, dim=_DIMS, norm="ortho"), dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """k-space -> image, the exact inverse (and adjoint) of :func:`fft2c`."""
    k = torch.fft.ifftshift(k, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.ifft2(k, dim=_DIMS, norm="ortho"), dim=_DIMS)


def fft1c(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centred orthonormal 1D FFT along ``dim``."""
    x = torch.fft.ifftshift(x, dim=dim)
    return torch.fft.fftshift(torch.fft.fft(x, dim=dim, norm="ortho"), dim=dim)


def ifft1c(k: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centred orthonormal inverse 1D FFT along ``dim``."""
    k = torch.fft.ifftshift(k, dim=dim)
    return torch.fft.fftshift(torch.fft.ifft(k, dim=dim, norm="ortho"), dim=dim)
