"""Coil sensitivity maps: calibration k-space, ESPIRiT (sigpy) and SENSE coil combination.

Scale convention: ESPIRiT maps are unit-norm eigenvectors, ``sum_c |s_c|^2 = 1`` inside the object
and 0 outside (after ``crop``). With the orthonormal FFT, ``coil_combine`` of fully sampled coil
images therefore returns the object at the same intensity as the simulated truth. ESPIRiT
fixes the common phase of the maps relative to coil 0 (sigpy's choice), so reconstructions carry
that phase, not the truth's: compare magnitudes, or the map agreement ``|<s_est, s_true>|``.
"""

from __future__ import annotations

import numpy as np
import torch

from inr_core.data import CartesianCine, RadialCine
from inr_core.fft import fft2c
from inr_core.operators.nufft import RadialNUFFT, radial_density


def _central_run(available: torch.Tensor) -> tuple[int, int]:
    """[start, stop) of the contiguous run of True around the centre index len//2."""
    n = available.shape[0]
    c = n // 2
    if not bool(available[c]):
        return c, c
    lo, hi = c, c + 1
    while lo > 0 and bool(available[lo - 1]):
        lo -= 1
    while hi < n and bool(available[hi]):
        hi += 1
    return lo, hi


def _limit(lo: int, hi: int, centre: int, width: int) -> tuple[int, int]:
    half = width // 2
    return max(lo, centre - half), min(hi, centre - half + width)


def calibration_rows(ny: int, width: int) -> range:
    """The phase-encode rows :func:`calibration_kspace` may keep of ``ny`` (``width`` around ``ny // 2``):
    a calibration line outside them never reaches ESPIRiT."""
    return range(*_limit(0, ny, ny // 2, width))


def calibration_kspace(data: CartesianCine | RadialCine, width: int = 24) -> torch.Tensor:
    """``(C, ny, nx)`` low-resolution Cartesian calibration k-space, zero outside its central block.

    Cartesian: the separately acquired calibration when present; otherwise the time average of
    every phase-encode line (sum over frames / number of frames that sampled it). Only the
    contiguous block of lines around DC is kept (at most ``width`` lines, and ``width`` readout
    columns). A line sampled by only some frames is still a valid average of those frames; coil
    sensitivities do not move with the heart, which is what makes pooling across frames fine.

    Radial: all spokes of all frames pooled into one acquisition, density-compensated (ramp for
    the pooled spoke count), gridded with the adjoint NUFFT and Fourier transformed back; the
    central ``width x width`` block is well sampled by the pooled spokes and is kept.
    """
    if isinstance(data, RadialCine):
        return _radial_calibration(data, width)
    ny, nx = data.image_shape
    if data.calibration is not None:
        kspace = data.calibration
        lines = data.calibration_mask if data.calibration_mask is not None else kspace.abs().sum(dim=(0, 2)) > 0
    else:
        counts = data.mask.sum(dim=0)  # (ny,)
        kspace = data.kspace.sum(dim=0) / counts.clamp_min(1)[None, :, None].to(data.kspace.real.dtype)
        lines = counts > 0
    lo, hi = _limit(*_central_run(lines.to(torch.bool)), ny // 2, width)
    x0, x1 = _limit(0, nx, nx // 2, width)
    out = torch.zeros_like(kspace)
    out[:, lo:hi, x0:x1] = kspace[:, lo:hi, x0:x1]
    return out


def _radial_calibration(data: RadialCine, width: int) -> torch.Tensor:
    t, c, s, n = data.kspace.shape
    traj = data.trajectory_k.reshape(1, t * s, n, 2)
    samples = data.kspace.permute(1, 0, 2, 3).reshape(1, c, t * s, n)
    op = RadialNUFFT(traj, data.image_shape)
    image = op.H(samples * radial_density(traj).to(samples.real.dtype)[:, None])[0]
    kspace = fft2c(image)
    ny, nx = data.image_shape
    y0, y1 = _limit(0, ny, ny // 2, width)
    x0, x1 = _limit(0, nx, nx // 2, width)
    out = torch.zeros_like(kspace)
    out[:, y0:y1, x0:x1] = kspace[:, y0:y1, x0:x1]
    return out


def espirit_maps(calib: torch.Tensor, calib_width: int = 24, kernel_width: int = 6, thresh: float = 0.02,
                 crop: float = 0.95, device=None) -> torch.Tensor:
    """ESPIRiT maps ``(C, ny, nx)`` complex64 from calibration k-space, via sigpy (CPU, numpy).

    The calibration region is narrowed to the nonzero central block so that zero rows (lines
    never acquired) are never mistaken for data.
    """
    import sigpy.mri

    ksp = calib.detach().cpu().numpy().astype(np.complex64)
    nonzero = np.abs(ksp).sum(axis=0) > 0
    width = calib_width
    for axis in (0, 1):
        present = torch.from_numpy(nonzero.any(axis=1 - axis))
        lo, hi = _central_run(present)
        centre = present.shape[0] // 2
        width = min(width, 2 * min(centre - lo, hi - centre))
    if width <= kernel_width:
        raise ValueError(_too_small(nonzero, width, calib_width, kernel_width))
    try:
        maps = np.asarray(sigpy.mri.app.EspiritCalib(ksp, calib_width=width, kernel_width=kernel_width, thresh=thresh,
                                                     crop=crop, show_pbar=False).run(), dtype=np.complex64)
    except np.linalg.LinAlgError as exc:  # e.g. "SVD did not converge" on corrupt or non-finite calibration data
        raise ValueError(f"ESPIRiT calibration failed ({exc}): the calibration k-space is degenerate "
                         "(corrupt, non-finite or all-zero data?)") from None
    if not np.isfinite(maps).all():
        raise ValueError("ESPIRiT calibration gave non-finite coil maps: the calibration k-space is degenerate "
                         "(corrupt data or values out of range?)")
    _check_coverage(ksp, maps, width, kernel_width, crop)
    return torch.from_numpy(maps).to(device or calib.device)


def _check_coverage(ksp: np.ndarray, maps: np.ndarray, width: int, kernel_width: int, crop: float) -> None:
    """Refuse maps that leave most of the object empty instead of returning a blank image.

    A calibration block with fewer rows than the kernel has unknowns (``(width - k + 1)^2`` against
    ``C k^2``) has a large null space, no eigenvalue reaches ``crop`` and ESPIRiT silently returns
    near-zero maps (10 ACS lines of a 128-line scan with kernel 6: 8 dB, an empty image).
    """
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(ksp, axes=(-2, -1))), axes=(-2, -1))
    rss = np.sqrt((np.abs(coil_images) ** 2).sum(axis=0))
    obj = rss > 0.1 * rss.max()
    covered = float(((np.abs(maps) ** 2).sum(axis=0)[obj] > 0).mean()) if obj.any() else 1.0
    if covered < 0.5:
        raise ValueError(f"ESPIRiT maps cover only {covered:.0%} of the object: the {width}-line calibration region "
                         f"is too small for the kernel of {kernel_width} with {ksp.shape[0]} coils; set "
                         f"espirit_kernel_width smaller (e.g. {max(2, kernel_width - 2)}) or espirit_crop lower "
                         f"(now {crop:g}), or acquire more central lines")


def _too_small(nonzero: np.ndarray, width: int, calib_width: int, kernel_width: int) -> str:
    rows = np.flatnonzero(nonzero.any(axis=1))
    ny = nonzero.shape[0]
    found = (f"{rows.size} calibration lines of {ny}, rows {_runs(rows)}, centre row {ny // 2}" if rows.size
             else "no calibration lines")
    return (f"calibration region of {max(width, 0)} lines around the k-space centre is too small for the ESPIRiT "
            f"kernel of {kernel_width} ({found}; calibration_width={calib_width}): the scan needs a contiguous "
            f"block of more than {kernel_width} central lines, or set espirit_kernel_width smaller "
            f"(and calibration_width larger than it)")


def _runs(rows: np.ndarray) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"`` (at most 6 runs shown)."""
    runs, start = [], rows[0]
    for a, b in zip(rows[:-1], rows[1:], strict=True):
        if b != a + 1:
            runs.append((start, a))
            start = b
    runs.append((start, rows[-1]))
    text = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:6])
    return text + (f", ... ({len(runs)} runs)" if len(runs) > 6 else "")


def coil_combine(coil_images: torch.Tensor, maps: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """SENSE combination ``sum_c conj(s_c) x_c / (sum_c |s_c|^2 + eps)`` over the coil axis -3.

    For ESPIRiT maps the denominator is 1 inside the object (so this is the adjoint of
    ``CoilSensitivity``) and 0 outside, where eps keeps the result 0 instead of NaN.
    """
    num = (maps.conj() * coil_images).sum(dim=-3)
    den = (maps.abs() ** 2).sum(dim=0)
    return num / (den + eps)


def estimate_coil_maps(data: CartesianCine | RadialCine, width: int = 24, kernel_width: int = 6,
                       thresh: float = 0.02, crop: float = 0.95) -> torch.Tensor:
    """Calibration k-space + ESPIRiT in one call; maps land on the data's device."""
    calib = calibration_kspace(data, width)
    return espirit_maps(calib, calib_width=width, kernel_width=kernel_width, thresh=thresh, crop=crop,
                        device=data.kspace.device)


def intensity_correction(maps: torch.Tensor, whitener: np.ndarray) -> torch.Tensor:
    """``(ny, nx)`` factor that puts images made with unit-norm maps of whitened data on the object's scale.

    After prewhitening with W the data's sensitivities are ``W s`` while ESPIRiT returns unit-norm
    ``m = W s / |W s|``, so any method's images come out as ``rho |W s|``: spatially weighted.
    The maps stay unit-norm (iterative methods are tuned for that: rescaled maps slow their
    convergence badly), and the weight is undone on the images instead: ``|W^-1 m|``
    (= ``1 / |W s|`` since ``|s| = 1``); 1 where the maps vanish.
    """
    w_inv = torch.from_numpy(np.linalg.inv(whitener).astype(np.complex64)).to(maps.device)
    norm = torch.einsum("ij,jyx->iyx", w_inv, maps).abs().pow(2).sum(0).sqrt()
    return torch.where(maps.abs().pow(2).sum(0) > 0, norm, torch.ones_like(norm)).to(torch.float32)


def coil_maps_and_intensity(data: CartesianCine | RadialCine, whitener: np.ndarray | None = None, width: int = 24,
                            kernel_width: int = 6, thresh: float = 0.02,
                            crop: float = 0.95) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Unit-norm ESPIRiT maps of (possibly prewhitened) data and the images' intensity correction.

    ``whitener`` is the W the data went through (None: not whitened, no correction needed). Images
    from any method times the returned ``(ny, nx)`` intensity are on the object's scale.
    """
    maps = estimate_coil_maps(data, width=width, kernel_width=kernel_width, thresh=thresh, crop=crop)
    return maps, None if whitener is None else intensity_correction(maps, whitener)
