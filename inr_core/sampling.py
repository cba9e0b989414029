"""Undersampling patterns for cine MRI: Cartesian k-t masks and golden-angle radial trajectories.

Cartesian masks are boolean numpy arrays ``(frames, ny)``: line ``y`` of frame ``t`` is acquired
where ``mask[t, y]`` is True. The readout (x) is always fully sampled. DC is line ``ny//2``.

- ``kt-uniform`` and ``kt-gaussian`` follow the CMRxRecon2024 definitions (see
  ``shared/reference/methods.md``): lines shift from frame to frame, plus 16 ACS lines
  ``[ny//2 - 8, ny//2 + 8)`` in every frame.
- ``equispaced`` is the fastMRI-style mask: every R-th line plus a central block of 8% of the
  lines, identical in every frame.

Radial trajectories are float32 ``(frames, spokes, samples, 2)`` holding (kx, ky) in cycles per
field of view of the reconstructed ``n x n`` image (the convention of ``inr_core.data``): an
oversampled spoke of ``samples = oversampling * n`` points runs from ``-n/2`` to ``n/2 - 1/oversampling``
and its DC sample is index ``samples // 2``.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

GOLDEN_ANGLE_DEG = 111.246  # 180 deg / golden ratio: the standard angle between successive full spokes


def acs_lines(ny: int, acs_lines: int = 16) -> np.ndarray:
    """Indices of the ``acs_lines`` central lines, ``[ny//2 - acs//2, ny//2 - acs//2 + acs)``."""
    start = max(ny // 2 - acs_lines // 2, 0)
    return np.arange(start, min(start + acs_lines, ny))


def _check(ny: int, frames: int, acceleration: float) -> None:
    if ny < 2 or frames < 1:
        raise ValueError(f"need ny >= 2 and frames >= 1, got ny={ny}, frames={frames}")
    if not 1 <= acceleration <= ny:
        raise ValueError(f"acceleration must be in [1, ny={ny}], got {acceleration}")


def _add_acs(mask: np.ndarray, acs: int) -> np.ndarray:
    if acs > 0:
        mask[:, acs_lines(mask.shape[1], acs)] = True
    return mask


def kt_uniform(ny: int, frames: int, acceleration: int, acs_lines: int = 16) -> np.ndarray:
    """CMRxRecon2024 k-t uniform: line y in frame t iff (y - t) mod R == 0, plus the ACS block."""
    _check(ny, frames, acceleration)
    r = int(acceleration)
    if r != acceleration:
        raise ValueError(f"kt-uniform needs an integer acceleration, got {acceleration}")
    y = np.arange(ny)[None, :]
    t = np.arange(frames)[:, None]
    return _add_acs((y - t) % r == 0, acs_lines)


def _gaussian_density(ny: int, alpha: float) -> np.ndarray:
    y = np.arange(ny)
    p = 0.1 + alpha / (1 - alpha) * np.exp(-((y - ny // 2) ** 2) / (ny / 5) ** 2)
    return p / p.sum()


def _nearest_free(taken: np.ndarray, y: int) -> int:
    """The free line closest to ``y`` (ties go to the lower index, so the result is deterministic)."""
    for d in range(len(taken)):
        for cand in (y - d, y + d):
            if 0 <= cand < len(taken) and not taken[cand]:
                return cand
    raise ValueError("no free line left")


def kt_gaussian(ny: int, frames: int, acceleration: float, alpha: float = 0.2, acs_lines: int = 16,
                seed: int = 0) -> np.ndarray:
    """CMRxRecon2024 k-t Gaussian: per frame, round(ny/R) draws with replacement from
    p(y) ~ 0.1 + alpha/(1-alpha) exp(-(y - ny//2)^2 / (ny/5)^2); a repeated draw moves to the nearest
    free line of that frame. Then the ACS block is added (it may overlap drawn lines).

    Frame t uses its own generator seeded with ``(seed, t)``, so frames are independent and a mask
    with more frames starts with the same frames as one with fewer.
    """
    _check(ny, frames, acceleration)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n_lines = round(ny / acceleration)
    p = _gaussian_density(ny, alpha)
    mask = np.zeros((frames, ny), dtype=bool)
    for t in range(frames):
        rng = np.random.default_rng((int(seed), t))
        for y in rng.choice(ny, size=n_lines, replace=True, p=p):
            mask[t, _nearest_free(mask[t], int(y))] = True
    return _add_acs(mask, acs_lines)


def equispaced(ny: int, frames: int, acceleration: int, center_fraction: float = 0.08) -> np.ndarray:
    """Every R-th line (aligned so the DC line ny//2 is one of them) plus a central block of
    ``round(ny * center_fraction)`` lines; the same mask in every frame."""
    _check(ny, frames, acceleration)
    r = int(acceleration)
    line = np.zeros(ny, dtype=bool)
    line[(np.arange(ny) - ny // 2) % r == 0] = True
    n_center = round(ny * center_fraction)
    start = (ny - n_center + 1) // 2
    line[start:start + n_center] = True
    return np.repeat(line[None, :], frames, axis=0)


def golden_angle_angles(frames: int, spokes: int, angle_deg: float = GOLDEN_ANGLE_DEG, offset: int = 0) -> np.ndarray:
    """Spoke angles in radians, ``(frames, spokes)``, continuing the golden-angle sequence across frames:
    spoke s of frame t is number ``offset + t * spokes + s`` of one continuous acquisition.
    Angles are wrapped to [0, pi) since a full spoke at theta + pi covers the same line."""
    n = offset + np.arange(frames * spokes, dtype=np.float64)
    angles = np.mod(n * math.radians(angle_deg), math.pi)
    return angles.reshape(frames, spokes)


def radial_trajectory(angles: np.ndarray, samples: int, oversampling: int = 1) -> np.ndarray:
    """Full-spoke radial trajectory ``(*angles.shape, samples, 2)`` float32 (kx, ky) in cycles per FOV.

    Sample i sits at radius ``(i - samples//2) / oversampling``; for an n x n image use
    ``samples = oversampling * n`` so the spoke covers [-n/2, n/2) with DC at index samples//2.
    """
    angles = np.asarray(angles, dtype=np.float64)
    radius = (np.arange(samples) - samples // 2) / float(oversampling)
    kx = radius * np.cos(angles)[..., None]
    ky = radius * np.sin(angles)[..., None]
    return np.stack([kx, ky], axis=-1).astype(np.float32)


# --- registry of Cartesian pattern names -------------------------------------------------------------

# Each maker takes ``acs=False`` to leave out the embedded ACS block: what is left is the pattern's own
# lattice (the lines it would sample without calibration), the same lines with or without the block.

def _make_kt_uniform(ny, frames, acceleration, seed=0, acs=True):
    return kt_uniform(ny, frames, acceleration, acs_lines=16 if acs else 0)


def _make_kt_gaussian(ny, frames, acceleration, seed=0, acs=True):
    return kt_gaussian(ny, frames, acceleration, seed=seed, acs_lines=16 if acs else 0)


def _make_equispaced(ny, frames, acceleration, seed=0, acs=True):
    return equispaced(ny, frames, acceleration, center_fraction=0.08 if acs else 0.0)


PATTERNS: dict[str, Callable[..., np.ndarray]] = {
    "kt-uniform": _make_kt_uniform,
    "kt-gaussian": _make_kt_gaussian,
    "equispaced": _make_equispaced,
}


def parse_pattern(name: str) -> Callable[..., np.ndarray]:
    """The mask maker ``f(ny, frames, acceleration, seed=0, acs=True) -> (frames, ny) bool`` for a pattern
    name; ``acs=False`` leaves out the embedded ACS block."""
    key = name.strip().lower().replace("_", "-")
    if key not in PATTERNS:
        raise ValueError(f"unknown sampling pattern {name!r}; known: {', '.join(PATTERNS)}")
    return PATTERNS[key]


def make_mask(name: str, ny: int, frames: int, acceleration: float, seed: int = 0) -> np.ndarray:
    """Convenience: ``parse_pattern(name)(ny, frames, acceleration, seed=seed)``."""
    return parse_pattern(name)(ny, frames, acceleration, seed=seed)


def lattice_mask(name: str, ny: int, frames: int, acceleration: float, seed: int = 0) -> np.ndarray:
    """The ``(frames, ny)`` mask of ``make_mask`` without its ACS block: each frame's own sampling
    lattice (kt shift, Gaussian draws or equispaced lines). ``make_mask`` is exactly this mask with
    ``calibration_lines`` added, so an ACS line of frame t is also an imaging line of t iff it is here."""
    return parse_pattern(name)(ny, frames, acceleration, seed=seed, acs=False)


def partial_fourier_first_line(ny: int, fraction: float | None) -> int:
    """First acquired line of a partial-Fourier scan that keeps ``round(fraction * ny)`` lines and
    misses the first ones (0 for None: full k-space). ``fraction`` in [0.5, 1] keeps the DC line ny//2."""
    if fraction is None:
        return 0
    if not 0.5 <= fraction <= 1:
        raise ValueError(f"partial Fourier fraction must be in [0.5, 1], got {fraction}")
    return min(ny - round(fraction * ny), ny // 2)


def calibration_lines(name: str, ny: int) -> np.ndarray:
    """Indices of the fully sampled central lines a pattern puts in every frame (its embedded ACS)."""
    key = name.strip().lower().replace("_", "-")
    if key == "equispaced":
        n_center = round(ny * 0.08)
        start = (ny - n_center + 1) // 2
        return np.arange(start, start + n_center)
    parse_pattern(key)
    return acs_lines(ny)
