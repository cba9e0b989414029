"""A dynamic short-axis cardiac cine phantom, built analytically with anti-aliased edges.

The slice is a mid-ventricular short-axis view displayed the usual way (anterior at the top, the
patient's left on the image right): body outline with subcutaneous fat and a muscle layer, both lungs
(dark), liver, vertebra, descending aorta, sternum, pericardial fat, the right ventricle as a crescent
wrapped around the left ventricle, the LV myocardium and two papillary muscles.

One call covers one heartbeat: frame t is at cardiac phase t/frames after the R wave. The LV blood
pool follows a contraction curve (fast ejection, rapid filling, diastasis, atrial kick); the wall
keeps its area, so it thickens in systole as real myocardium does. Tissues carry a smooth random
texture (the myocardial one moves with the wall), and the image has a smooth background phase.

Coordinates are normalised: the larger image side spans [-1, 1). Intensities are bSSFP-like
(blood 1.0, fat ~0.85, myocardium ~0.3, lung ~0.05, air 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# bSSFP-like intensities
BLOOD, MYO, FAT, MUSCLE, LIVER, LUNG, BONE, MEDIASTINUM = 1.0, 0.30, 0.85, 0.33, 0.38, 0.05, 0.28, 0.55

# Contraction curve knots: (cardiac phase in [0, 1], contraction 0 = end-diastole .. 1 = end-systole).
_CURVE = ((0.0, 0.0), (0.35, 1.0), (0.55, 0.3), (0.80, 0.2), (0.92, 0.0), (1.0, 0.0))


@dataclass(frozen=True)
class PhantomGeometry:
    """Where the heart is, in pixels of a ``shape`` image (row, column), for previews and metrics."""

    shape: tuple[int, int]
    heart_center: tuple[float, float]  # LV centre (row, col), in pixels
    lv_radius_px: float  # end-diastolic LV endocardial radius
    heart_box: tuple[int, int, int, int]  # (row0, row1, col0, col1) covering both ventricles


# Geometry in normalised units (x to the right, y downwards).
_LV_CENTER = (0.12, -0.02)
_LV_ENDO_ED, _LV_EPI_ED = 0.17, 0.24
_RV_OFFSET, _RV_AXES = (-0.21, -0.03), (0.17, 0.29)


def _shape(matrix) -> tuple[int, int]:
    if isinstance(matrix, int):
        return matrix, matrix
    ny, nx = (int(v) for v in matrix)
    return ny, nx


def _grid(shape: tuple[int, int]):
    ny, nx = shape
    half = max(ny, nx) / 2
    y = (np.arange(ny, dtype=np.float32) - ny // 2) / half
    x = (np.arange(nx, dtype=np.float32) - nx // 2) / half
    return x[None, :], y[:, None], 1.0 / half  # x (1, nx), y (ny, 1), pixel size


def phantom_geometry(matrix=128) -> PhantomGeometry:
    """The heart's position for an image of size ``matrix`` (int or (ny, nx))."""
    ny, nx = _shape(matrix)
    half = max(ny, nx) / 2
    row = _LV_CENTER[1] * half + ny // 2
    col = _LV_CENTER[0] * half + nx // 2
    r0 = int((_LV_CENTER[1] - 0.34) * half + ny // 2)
    r1 = int(math.ceil((_LV_CENTER[1] + 0.30) * half + ny // 2))
    c0 = int((_LV_CENTER[0] + _RV_OFFSET[0] - 0.26) * half + nx // 2)
    c1 = int(math.ceil((_LV_CENTER[0] + 0.30) * half + nx // 2))
    box = (max(r0, 0), min(r1, ny), max(c0, 0), min(c1, nx))
    return PhantomGeometry((ny, nx), (float(row), float(col)), _LV_ENDO_ED * half, box)


def contraction(phase) -> np.ndarray:
    """Contraction in [0, 1] (0 end-diastole, 1 end-systole) at cardiac phase in [0, 1), R wave at 0.
    Cosine interpolation between knots keeps the curve smooth with flat turning points."""
    phase = np.mod(np.asarray(phase, dtype=np.float64), 1.0)
    knots = np.array(_CURVE)
    i = np.clip(np.searchsorted(knots[:, 0], phase, side="right") - 1, 0, len(knots) - 2)
    p0, p1 = knots[i, 0], knots[i + 1, 0]
    v0, v1 = knots[i, 1], knots[i + 1, 1]
    w = 0.5 - 0.5 * np.cos(math.pi * (phase - p0) / (p1 - p0))
    return v0 + (v1 - v0) * w


def _soft(dist, pixel):
    """Anti-aliased inside-ness from a signed distance (positive inside), about one pixel wide."""
    return 0.5 + 0.5 * np.tanh(dist / (0.7 * pixel))  # a logistic sigmoid that cannot overflow


def _ellipse(x, y, center, axes, pixel, angle=0.0):
    """Soft mask of a rotated ellipse via its first-order signed distance (1 - rho) / |grad rho|."""
    c, s = math.cos(angle), math.sin(angle)
    u = (x - center[0]) * c + (y - center[1]) * s
    v = -(x - center[0]) * s + (y - center[1]) * c
    a, b = axes
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) + 1e-9
    grad = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2) / rho + 1e-9
    return _soft((1 - rho) / grad, pixel)


def _disk(x, y, center, radius, pixel):
    return _soft(radius - np.sqrt((x - center[0]) ** 2 + (y - center[1]) ** 2), pixel)


def _smooth_noise(rng, shape, correlation, pixel) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with a Gaussian correlation length (normalised units)."""
    white = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None] / pixel
    kx = np.fft.fftfreq(shape[1])[None, :] / pixel
    filt = np.exp(-2 * (math.pi * correlation) ** 2 * (kx**2 + ky**2))
    field = np.fft.ifft2(np.fft.fft2(white) * filt).real
    return ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)


def _wall_texture(rng, theta, depth, modes=24) -> np.ndarray:
    """Smooth texture in wall coordinates (angle, depth 0 endo .. 1 epi), periodic in angle, so the
    myocardial pattern moves and stretches with the wall instead of sliding over it."""
    out = np.zeros(np.broadcast_shapes(theta.shape, depth.shape), dtype=np.float32)
    for _ in range(modes):
        m, n = rng.integers(1, 14), rng.uniform(0, 3)
        out += np.cos(m * theta + n * math.pi * depth + rng.uniform(0, 2 * math.pi)).astype(np.float32)
    return out / math.sqrt(modes / 2)


class _Canvas:
    """Painter's algorithm on soft masks; keeps each label's visible fraction for label maps."""

    def __init__(self, shape):
        self.image = np.zeros(shape, dtype=np.float32)
        self.labels: dict[str, np.ndarray] = {}

    def paint(self, name, mask, value):
        mask = np.broadcast_to(mask, self.image.shape)
        self.image = self.image * (1 - mask) + value * mask
        for key in self.labels:
            self.labels[key] = self.labels[key] * (1 - mask)
        self.labels[name] = self.labels.get(name, 0) + mask


def _paint_lung_vessels(canvas, x, y, px, lungs):
    """Small bright dots (pulmonary vessels) inside the lungs; fixed positions, so anatomy is seed-free."""
    rng = np.random.default_rng(12345)
    for _ in range(40):
        center = (rng.uniform(-0.75, 0.75), rng.uniform(-0.45, 0.45))
        dot = _disk(x, y, center, rng.uniform(0.008, 0.02), px) * lungs
        canvas.paint("lung_vessel", dot, rng.uniform(0.25, 0.6))


def _paint_torso(canvas, x, y, px, tex):
    """Static anatomy around the heart."""
    body_c, body_ax = (0.0, 0.05), (0.88, 0.66)
    textured = lambda val, amp: val * (1 + amp * tex)  # noqa: E731
    canvas.paint("fat", _ellipse(x, y, body_c, body_ax, px), textured(FAT, 0.06))
    canvas.paint("muscle", _ellipse(x, y, (0.0, 0.04), (0.83, 0.60), px), textured(MUSCLE, 0.12))
    canvas.paint("fat", _ellipse(x, y, (0.0, 0.07), (0.78, 0.53), px), textured(FAT * 0.9, 0.08))
    canvas.paint("muscle", _ellipse(x, y, (0.0, 0.07), (0.76, 0.51), px), textured(MUSCLE, 0.12))
    lungs = np.maximum(_ellipse(x, y, (0.45, 0.02), (0.28, 0.42), px, angle=-0.25),
                       _ellipse(x, y, (-0.44, 0.0), (0.29, 0.44), px, angle=0.2))
    canvas.paint("lung", lungs, textured(LUNG, 0.6))
    _paint_lung_vessels(canvas, x, y, px, lungs)
    canvas.paint("liver", _ellipse(x, y, (-0.45, 0.38), (0.32, 0.20), px, angle=0.3), textured(LIVER, 0.08))
    # Posterior mediastinum, vertebra (cortex, fatty marrow), spinal canal (CSF), descending aorta.
    canvas.paint("mediastinum", _ellipse(x, y, (0.02, 0.30), (0.17, 0.16), px), textured(MEDIASTINUM, 0.15))
    canvas.paint("bone", _ellipse(x, y, (0.0, 0.43), (0.095, 0.08), px), BONE * 0.4)
    canvas.paint("bone", _ellipse(x, y, (0.0, 0.43), (0.075, 0.06), px), textured(0.6, 0.15))
    canvas.paint("csf", _disk(x, y, (0.0, 0.545), 0.03, px), 0.9)
    canvas.paint("blood", _disk(x, y, (0.12, 0.31), 0.05, px), textured(BLOOD, 0.03))
    canvas.paint("bone", _ellipse(x, y, (0.0, -0.47), (0.09, 0.03), px), textured(BONE, 0.15))  # sternum


def heart_scale(level: float) -> float:
    """Size of the heart's cross-section at ``level`` along the long axis (-1 base, 0 mid-ventricle,
    1 apex), relative to mid-ventricle: a little larger towards the base, tapering towards the apex."""
    if not -1.0 <= level <= 1.0:
        raise ValueError(f"level must be in [-1, 1] (base .. apex), got {level}")
    return 1.0 - 0.1 * level if level < 0 else 1.0 - 0.35 * level


def _paint_heart(canvas, x, y, px, c, tex, wall_rng_seed, scale=1.0):
    """The beating heart; ``c`` is contraction (T, 1, 1); ``scale`` the cross-section's size (``heart_scale``)."""
    lx, ly = _LV_CENTER
    endo_ed, epi_ed = _LV_ENDO_ED * scale, _LV_EPI_ED * scale  # exact at scale 1: the default is unchanged
    endo = endo_ed * np.sqrt(1 - 0.62 * c)  # area ejection fraction ~0.62
    epi = np.sqrt(endo**2 + epi_ed**2 - endo_ed**2)  # wall area conserved -> thickening
    rv_scale = (1 - 0.22 * c) * scale
    rv_c = (lx + _RV_OFFSET[0] * scale * (1 - 0.1 * c), ly + _RV_OFFSET[1])
    rv_ax = (_RV_AXES[0] * rv_scale, _RV_AXES[1] * rv_scale)
    blood = lambda amp: BLOOD * (1 + amp * tex)  # noqa: E731

    # Epicardial fat: a rim of uneven thickness around both ventricles, in front of the mediastinal tissue.
    rim = 0.025 + 0.012 * tex
    heart_out = np.maximum(_soft(epi_ed + 0.02 - np.sqrt((x - lx) ** 2 + (y - ly) ** 2), px),
                           _ellipse(x, y, rv_c, (rv_ax[0] + 0.05, rv_ax[1] + 0.05), px))
    canvas.paint("mediastinum", _ellipse(x, y, (lx - 0.07, ly - 0.03), (0.36, 0.36), px) * heart_out,
                 MEDIASTINUM * (1 + 0.15 * tex))
    canvas.paint("fat", np.maximum(_soft(epi + rim - np.sqrt((x - lx) ** 2 + (y - ly) ** 2), px),
                                   _ellipse(x, y, rv_c, (rv_ax[0] + 0.03 + rim, rv_ax[1] + 0.03 + rim), px)),
                 FAT * (1 + 0.1 * tex))
    canvas.paint("rv_myo", _ellipse(x, y, rv_c, (rv_ax[0] + 0.03, rv_ax[1] + 0.03), px), MYO * (1 + 0.1 * tex))
    canvas.paint("rv_blood", _ellipse(x, y, rv_c, rv_ax, px), blood(0.04))

    r = np.sqrt((x - lx) ** 2 + (y - ly) ** 2)
    theta = np.arctan2(y - ly, x - lx)
    depth = np.clip((r - endo) / (epi - endo), 0, 1)
    wall_tex = _wall_texture(np.random.default_rng(wall_rng_seed), theta, depth)
    canvas.paint("lv_myo", _soft(epi - r, px), MYO * (1 + 0.12 * wall_tex))
    canvas.paint("lv_blood", _soft(endo - r, px), blood(0.04))

    # Papillary muscles: anterolateral and posteromedial, riding just inside the endocardium.
    for ang in (math.radians(40), math.radians(125)):
        pr = endo * 0.72
        center = (lx + pr * math.cos(ang), ly + pr * math.sin(ang))
        canvas.paint("lv_papillary", _disk(x, y, center, 0.03 + 0.012 * c, px), MYO * 1.05)


def _background_phase(rng, x, y, span: float | None = None) -> np.ndarray:
    """Smooth low-order phase (B0/receiver phase); a few tenths of a radian to ~1 rad across the body.

    With ``span`` the spatially varying part is rescaled so the phase varies by exactly ``span`` radians
    (max - min) over the FOV; the draws are the same, so ``span`` changes only the amplitude.
    """
    c = rng.uniform(-1, 1, size=5) * np.array([math.pi, 0.6, 0.6, 0.5, 0.4])
    if span is None:  # this exact expression: the sample files depend on its rounding
        return (c[0] + c[1] * x + c[2] * y + c[3] * (x**2 + y**2) + c[4] * x * y).astype(np.float32)
    varying = c[1] * x + c[2] * y + c[3] * (x**2 + y**2) + c[4] * x * y
    varying = varying * (span / max(float(varying.max() - varying.min()), 1e-6))
    return (c[0] + varying).astype(np.float32)


def cardiac_phantom(matrix=128, frames: int = 20, seed: int = 0, return_labels: bool = False,
                    phase_span: float | None = None, level: float = 0.0):
    """Complex64 cine ``(frames, ny, nx)`` over one heartbeat (frame t at phase t/frames).

    ``matrix`` is an int (square) or (ny, nx). ``seed`` sets the textures and the background phase;
    the anatomy and motion are the same for every seed. ``phase_span`` (radians) sets how much the
    smooth background phase varies across the FOV (max - min); None keeps the seed's own amplitude.
    With ``return_labels`` also returns a dict of per-label visible fractions ``(frames, ny, nx)``
    float32 in [0, 1] (``lv_blood``, ``lv_myo``, ``lv_papillary``, ``rv_blood``, ``rv_myo``, ``lung``,
    ``fat``, ...). ``level`` places the short-axis slice along the heart's long axis (-1 base, 0
    mid-ventricle, 1 apex; ``heart_scale``): the slices of a stack differ in the heart's size.
    """
    shape = _shape(matrix)
    if frames < 1 or min(shape) < 8:
        raise ValueError(f"need frames >= 1 and a matrix of at least 8, got {frames} frames, {shape}")
    rng = np.random.default_rng(int(seed))
    x, y, px = _grid(shape)
    # Texture: a fine and a coarse component, so tissues look grainy but not noisy.
    tex = 0.7 * _smooth_noise(rng, shape, 0.015, px) + 0.7 * _smooth_noise(rng, shape, 0.06, px)
    phase = _background_phase(rng, x, y, phase_span)
    c = contraction(np.arange(frames) / frames).astype(np.float32)[:, None, None]

    canvas = _Canvas((frames, *shape))
    _paint_torso(canvas, x, y, px, tex)
    _paint_heart(canvas, x, y, px, c, tex, wall_rng_seed=int(rng.integers(2**31)), scale=heart_scale(level))
    image = np.clip(canvas.image, 0, None) * np.exp(1j * phase)
    out = torch.from_numpy(image.astype(np.complex64))
    if return_labels:
        labels = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in canvas.labels.items()}
        return out, labels
    return out
