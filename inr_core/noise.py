"""Noise prewhitening, as Gadgetron's NoiseAdjustGadget does it.

From a noise scan ``n`` (coils x samples) the covariance is ``R = n n^H / (N - 1)``; with the
Cholesky factor ``R = L L^H`` the prewhitener is ``W = L^{-1}``, so ``W n`` has identity covariance
(unit variance per complex sample, uncorrelated coils). Applying ``W`` to the imaging data mixes
coils but keeps every reconstruction linear and makes least squares the right noise model.

``bandwidth_ratio`` = (noise variance per imaging sample) / (noise variance per noise-scan sample),
i.e. ``noise_dwell_time / acquisition_dwell_time`` when the two differ in dwell time (times a
receiver-bandwidth correction, if the caller has one). The imaging noise covariance is then
``bandwidth_ratio * R`` and ``W = L^{-1} / sqrt(bandwidth_ratio)`` whitens the imaging data.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def noise_covariance(noise) -> torch.Tensor:
    """``(C, N)`` complex noise samples -> ``(C, C)`` covariance (complex128 for a stable Cholesky)."""
    n = _as_tensor(noise).to(torch.complex128)
    if n.ndim != 2 or n.shape[1] < 2:
        raise ValueError(f"noise must be (coils, samples) with samples >= 2, got {tuple(n.shape)}")
    n = n - n.mean(dim=1, keepdim=True)
    return n @ n.conj().T / (n.shape[1] - 1)


def noise_prewhitener(noise, bandwidth_ratio: float = 1.0) -> torch.Tensor:
    """Inverse Cholesky factor of the noise covariance, ``(C, C)`` complex64 (lower triangular)."""
    if bandwidth_ratio <= 0:
        raise ValueError(f"bandwidth_ratio must be positive, got {bandwidth_ratio}")
    cov = noise_covariance(noise) * bandwidth_ratio
    try:
        chol = torch.linalg.cholesky(cov)
    except RuntimeError as err:  # torch raises LinAlgError, a RuntimeError subclass
        raise ValueError("noise covariance is not positive definite (dead or duplicated coil?)") from err
    eye = torch.eye(cov.shape[0], dtype=cov.dtype)
    return torch.linalg.solve_triangular(chol, eye, upper=False).to(torch.complex64)


def apply_prewhitener(w: torch.Tensor, data, coil_axis: int = -2):
    """``W`` applied along ``coil_axis`` of ``data`` (default ``(..., C, N)``); numpy in, numpy out."""
    is_numpy = not isinstance(data, torch.Tensor)
    x = _as_tensor(data)
    w = _as_tensor(w).to(device=x.device, dtype=x.dtype if x.is_complex() else torch.complex64)
    x = x.movedim(coil_axis, -1)
    out = (x.to(w.dtype) @ w.T).movedim(-1, coil_axis)
    return out.numpy() if is_numpy else out
