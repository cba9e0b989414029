"""Image quality per frame on magnitude images: PSNR, SSIM (scikit-image) and NRMSE.

Two protocols, as the two papers evaluate:

- ``kp-inr``: keep the central half of the rows (drop the first and last quarter of ``ny``),
  divide recon and reference by the *reference* maximum over the series, data range 1. The recon's
  absolute intensity therefore matters: every method in ``inr_core.methods`` returns images on the
  scale of the true object (orthonormal FFT, coil maps with ``sum |s|^2 = 1``, NUFFT scaled like the
  FFT, density compensation in grid-cell units), so no fitting to the reference is done or needed.
- ``da-inr``: min-max normalise recon and reference separately over the whole series, full image,
  data range 1. Insensitive to a global intensity scale by construction.

Neither protocol fits a scale or phase to the reference, per frame or globally: only magnitudes
are compared, so the arbitrary common phase of ESPIRiT maps does not matter.
NRMSE is ``||recon - ref|| / ||ref||`` per frame on the normalised magnitudes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PROTOCOLS = ("kp-inr", "da-inr")


def _magnitude(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.abs(np.asarray(x)).astype(np.float64)


def prepare(recon, reference, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes of ``(T, ny, nx)`` recon and reference, cropped and normalised per ``protocol``."""
    rec, ref = _magnitude(recon), _magnitude(reference)
    if rec.shape != ref.shape or rec.ndim != 3:
        raise ValueError(f"recon {rec.shape} and reference {ref.shape} must both be (frames, ny, nx)")
    if protocol == "kp-inr":
        ny = ref.shape[1]
        rows = slice(ny // 4, ny - ny // 4)
        rec, ref = rec[:, rows], ref[:, rows]
        peak = ref.max()
        scale = 1.0 / peak if peak > 0 else 1.0
        return rec * scale, ref * scale
    if protocol == "da-inr":
        return _minmax(rec), _minmax(ref)
    raise ValueError(f"unknown metrics protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def score(recon, reference, protocol: str = "kp-inr") -> dict:
    """Per-frame ``psnr``/``ssim``/``nrmse`` arrays and a ``summary`` of means and standard deviations.

    Identical frames give PSNR ``inf`` (kept as such; the mean is then ``inf`` too) and SSIM 1.
    """
    rec, ref = prepare(recon, reference, protocol)
    psnr, ssim, nrmse = [], [], []
    for r, g in zip(rec, ref, strict=True):
        mse = np.mean((r - g) ** 2)
        psnr.append(np.inf if mse == 0 else peak_signal_noise_ratio(g, r, data_range=1.0))
        ssim.append(structural_similarity(g, r, data_range=1.0))
        norm = np.linalg.norm(g)
        nrmse.append(np.linalg.norm(r - g) / norm if norm > 0 else float(np.linalg.norm(r)))
    out: dict[str, Any] = {"psnr": np.array(psnr), "ssim": np.array(ssim), "nrmse": np.array(nrmse)}
    summary = {"frames": len(rec), "protocol": protocol}
    for key, values in out.items():
        summary[f"{key}_mean"] = float(np.mean(values))
        summary[f"{key}_std"] = float(np.std(values)) if np.all(np.isfinite(values)) else float("nan")
    out["summary"] = summary
    return out
