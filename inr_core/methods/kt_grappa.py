"""k-t GRAPPA (Huang et al. 2005): GRAPPA kernels that span phase-encode neighbours *and* neighbouring frames.

Every missing line ``y`` of frame ``t`` is estimated, coil by coil, as a linear combination of the
acquired samples in a k-t window around it: frames ``t-dt..t+dt`` (circular, the cine is periodic),
lines ``y-dy..y+dy`` and readout points ``x-dx..x+dx``, all coils. Which neighbours are acquired
depends on the pattern (kt-uniform gives a handful of distinct layouts, kt-Gaussian many), so one
kernel is calibrated per distinct layout of acquired neighbours, by Tikhonov-regularised least squares.

Calibration (``calibration``):
- ``time-averaged`` (default, as the method is usually described): the ACS lines (those acquired in
  every frame) averaged over time. Every frame offset then sees the same calibration data, so the
  kernel spreads its weight evenly over the neighbouring frames: a temporally smoothed GRAPPA.
- ``kt``: the ACS lines of each frame kept separate, so the kernel learns the real temporal
  correlation of the centre of k-space (can overfit the centre's motion on short series).

Acquired samples are kept as measured; only missing ones are filled. The result is combined with
the ESPIRiT maps like every other method.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inr_core.coils import coil_combine
from inr_core.fft import ifft2c
from inr_core.methods.base import Method


@dataclass
class KtGrappaConfig:
    dy: int = 2  # phase-encode half-width of the kernel (lines y-dy..y+dy)
    dt: int = 1  # temporal half-width (frames t-dt..t+dt, circular)
    dx: int = 2  # readout half-width
    lam: float = 1e-3  # Tikhonov weight relative to trace(A^H A) / columns
    calibration: str = "time-averaged"  # or "kt": per-frame ACS


def _offsets(cfg: KtGrappaConfig) -> list[tuple[int, int]]:
    return [(dt, dy) for dt in range(-cfg.dt, cfg.dt + 1) for dy in range(-cfg.dy, cfg.dy + 1) if (dt, dy) != (0, 0)]


def _sources(kpad: torch.Tensor, t: torch.Tensor, y: torch.Tensor, offsets, dx: int) -> torch.Tensor:
    """Source vectors ``(n, nx, len(offsets) * C * (2dx+1))`` for targets ``(t[i], y[i], every x)``.

    ``kpad`` is ``(T, C, ny, nx + 2dx)``, zero-padded in x; ``y + dy`` must be in range (callers check).
    """
    frames = kpad.shape[0]
    nx = kpad.shape[-1] - 2 * dx
    blocks = []
    for dt, dy in offsets:
        rows = kpad[(t + dt) % frames, :, y + dy, :]  # (n, C, nx + 2dx)
        win = torch.stack([rows[..., s:s + nx] for s in range(2 * dx + 1)], dim=-1)  # (n, C, nx, w)
        blocks.append(win.permute(0, 2, 1, 3).reshape(len(t), nx, -1))
    return torch.cat(blocks, dim=-1)


def _calibration(data, cfg: KtGrappaConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Calibration k-space ``(Tc, C, ny, nx)`` and its ``(ny,)`` mask of fully known lines."""
    if data.calibration is not None:
        return data.calibration[None], data.calibration_mask.clone()
    acs = data.mask.all(dim=0)
    if not acs.any():
        raise ValueError("k-t GRAPPA needs lines acquired in every frame (an ACS block) to calibrate")
    calib = data.kspace * acs[None, None, :, None]
    if cfg.calibration == "time-averaged":
        return calib.mean(dim=0, keepdim=True), acs
    if cfg.calibration == "kt":
        return calib, acs
    raise ValueError(f"k-t GRAPPA calibration must be 'time-averaged' or 'kt', got {cfg.calibration!r}")


def _kernel(calib, calib_mask, offsets, dx: int, lam: float) -> torch.Tensor | None:
    """Least-squares weights ``(columns, C)`` mapping the sources at ``offsets`` to the centre sample."""
    tc, _, ny, _ = calib.shape
    dys = [dy for _, dy in offsets]
    ys = [y for y in range(ny) if calib_mask[y] and all(0 <= y + d < ny and calib_mask[y + d] for d in dys)]
    if not ys:
        return None
    t = torch.arange(tc).repeat_interleave(len(ys))
    y = torch.tensor(ys).repeat(tc)
    kpad = torch.nn.functional.pad(calib, (dx, dx))
    a = _sources(kpad, t, y, offsets, dx).reshape(-1, len(offsets) * calib.shape[1] * (2 * dx + 1))
    b = calib[t, :, y, :].permute(0, 2, 1).reshape(-1, calib.shape[1])  # (n * nx, C)
    gram = a.mH @ a
    reg = lam * gram.diagonal().real.mean().clamp_min(1e-30)
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + reg * eye, a.mH @ b)


def fill_kspace(data, cfg: KtGrappaConfig) -> torch.Tensor:
    """The k-space with every missing sample that has acquired neighbours estimated by its kernel."""
    k, mask = data.kspace, data.mask
    frames, coils, ny, nx = k.shape
    calib, calib_mask = _calibration(data, cfg)
    offsets = _offsets(cfg)
    kpad = torch.nn.functional.pad(k, (cfg.dx, cfg.dx))
    mask_cpu = mask.cpu()
    # Layout of acquired neighbours for every missing (t, y): the key that selects the kernel.
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for t in range(frames):
        for y in range(ny):
            if mask_cpu[t, y]:
                continue
            key = tuple((dt, dy) for dt, dy in offsets
                        if 0 <= y + dy < ny and bool(mask_cpu[(t + dt) % frames, y + dy]))
            if key:
                groups.setdefault(key, []).append((t, y))
    out = k.clone()
    for key, targets in groups.items():
        weights = _kernel(calib, calib_mask, list(key), cfg.dx, cfg.lam)
        if weights is None:
            continue
        t = torch.tensor([p[0] for p in targets], device=k.device)
        y = torch.tensor([p[1] for p in targets], device=k.device)
        est = _sources(kpad, t, y, list(key), cfg.dx) @ weights  # (n, nx, C)
        out[t, :, y, :] = est.permute(0, 2, 1)
    return out


class KtGrappa(Method):
    """k-t GRAPPA: kernels over phase-encode and frame neighbours, calibrated on the time-averaged ACS."""

    name = "kt-grappa"
    Config = KtGrappaConfig
    trajectories = ("cartesian",)
    presets = {"fast": {"dt": 1, "dy": 2}, "paper": {"dt": 1, "dy": 2}}

    def reconstruct(self, data, coil_maps, progress):
        config = self.config
        progress(0, 1, "kt-grappa")
        filled = fill_kspace(data, config)
        images = coil_combine(ifft2c(filled), coil_maps.to(filled.device))
        progress(1, 1, "kt-grappa done")
        return images
