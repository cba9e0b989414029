"""Noise prewhitening, as Gadgetron's NoiseAdjustGadget does it.

From a noise scan ``n`` (coils x samples) the covariance is ``R = n n^H / (N - 1)``; with the
Cholesky factor ``R = L L^H`` the prewhitener is ``W = L^{-1}``, so ``W n`` has identity covariance
(unit variance per complex sample, uncorrelated coils). Applying ``W`` to the imaging data mixes
coils but keeps every reconstruction linear and makes least squares the right noise model.

``bandwidth_ratio`` = (noise variance per imaging sample) / (noise variance per noise-scan sample),
i.e. ``noise_dwell_time / acquisition_dwell_time`` when the two differ in dwell time (times a
receiver-bandwidth correction, if the caller has one). The imaging noise covariance is then
``bandwidth_ratio * R`` and ``W = L^{-1} / sqrt(bandwidth_ratio)`` whitens the imaging data.

Scale (``prewhitener_from_readouts(preserve_scale=True)``, the chain's default): a unit-variance
whitener multiplies images by about 1/noise_std, and the evaluation protocols (and anyone comparing
methods) need images on the object's scale, so W is divided by ``sqrt(trace(W^H W) / C)``: a mean
gain of 1 over coil directions; uncorrelated equal-variance noise leaves the data untouched.
The spatial weight that whitening still leaves on images is undone by
``inr_core.coils.intensity_correction``.
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


def prewhitener_from_readouts(noise: list, noise_dwell_us: float | None, imaging_dwell_us: float | None,
                              preserve_scale: bool = True) -> np.ndarray:
    """W ``(C, C)`` complex64 from noise readouts (each ``(C, N)``), for imaging readouts of the given dwell.

    The one place W is computed: NoisePrewhitening whitens with it, and the cine node recomputes
    the same W from the forwarded noise readouts (separate Gadgetron nodes share only ISMRMRD items).
    Noise sampled with a longer dwell (narrower bandwidth) has a smaller variance per sample than the
    imaging readouts see: the bandwidth ratio is ``noise_dwell / imaging_dwell``.
    """
    channels = {np.shape(n)[0] for n in noise}
    if len(channels) != 1:
        raise ValueError(f"noise readouts have differing channel counts {sorted(channels)}")
    ratio = (noise_dwell_us / imaging_dwell_us) if (noise_dwell_us and imaging_dwell_us) else 1.0
    samples = np.concatenate([np.asarray(n, np.complex64) for n in noise], axis=1)
    if not np.isfinite(samples).all():
        raise ValueError("noise readouts hold NaN or Inf samples")
    w = noise_prewhitener(torch.from_numpy(samples), ratio).cpu().numpy()
    if preserve_scale:
        w = w / np.sqrt(np.trace(w.conj().T @ w).real / w.shape[0])
    return w.astype(np.complex64)
