"""What the Generalized INR sees and learns from: coil compression, normalisation, training samples.

One function makes the network's input from multi-coil k-space, for training and inference alike
(:func:`prepare`): the acquired lines are compressed to a fixed number of virtual coils (SVD of the
acquired samples; fewer real coils than virtual ones leave the last virtual coils zero), the
zero-filled virtual-coil images are divided by a robust per-frame scale (the 99th percentile of
their root-sum-of-squares) and the acceleration handed to the scale embedding is the frame's
effective one, ``ny / acquired lines``, whatever the pattern (equispaced with its ACS block, kt
patterns, partial Fourier).

Training samples come from two sources, both drawing everything from ``(seed, step)`` so that a
resumed run sees exactly the batches an uninterrupted one would:

- :class:`SimulatedSource`: the realistic simulation's parts (``cardiac_phantom``,
  ``cardiac_array``) with variety added on top: random matrix (ny, nx in 96..192), phantom seed,
  cardiac phase, per-tissue contrast (each label's intensity scaled by a log-normal factor), an
  affine warp of the anatomy (rotation, scaling, shear, shift, left-right flip), coil count 4-20,
  coil array rotated and shifted, background phase span 0-2 pi, k-space-centre SNR 38-62 dB, white
  noise (the chain prewhitens before any method runs); in 85% of the samples the coil maps are zero
  outside the object (:func:`object_support`), as ESPIRiT's are. Targets are the noise-free images.
- :class:`RawSource`: frames of fully sampled ISMRMRD files, read through the chain's own front end
  (``pipelines.files.training_data.load_raw_folder``); targets are the fully sampled coil images.

Masks: equispaced every R-th line plus a central block of 8% of the lines, R drawn per sample
(``r_range``, default 2-8); with ``kt_fraction`` > 0 that share of samples uses one frame of a
kt-uniform or kt-Gaussian mask (R 2-10) instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from inr_core.fft import fft2c, ifft2c
from inr_core.phantom import cardiac_phantom
from inr_core.sampling import equispaced, kt_gaussian, kt_uniform
from inr_core.simulate import cardiac_array

SIZES = (96, 128, 160, 192)
COILS = (4, 20)


def compression_matrix(kspace: torch.Tensor, mask: torch.Tensor, virtual: int) -> torch.Tensor:
    """``(C, Cv)`` complex: the first ``virtual`` left singular vectors of the acquired samples.

    ``kspace`` ``(..., C, ny, nx)`` with lines ``mask`` ``(..., ny)`` acquired. Columns beyond the
    real coil count are zero (the network then sees empty virtual coils, as in training).
    """
    c = kspace.shape[-3]
    k = kspace.movedim(-3, 0)  # (C, ..., ny, nx)
    lines = k[:, mask.bool()] if mask.ndim == k.ndim - 2 else k[:, :, mask.bool()]
    samples = lines.reshape(c, -1).to(torch.complex128)
    cov = samples @ samples.conj().T
    _, vecs = torch.linalg.eigh(cov)  # ascending
    u = vecs.flip(-1)[:, :min(virtual, c)].to(torch.complex64)
    if c < virtual:
        u = torch.cat([u, torch.zeros(c, virtual - c, dtype=u.dtype, device=u.device)], dim=1)
    return u


def compress(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Coils ``(..., C, ny, nx)`` -> virtual coils ``(..., Cv, ny, nx)``: ``U^H x`` over the coil axis."""
    return torch.einsum("cv,...cyx->...vyx", u.conj(), x)


def frame_scale(image: torch.Tensor) -> torch.Tensor:
    """``(B,)`` robust scale of each frame: 99th percentile of ``|image|`` ``(B, ny, nx)``."""
    return torch.quantile(image.abs().flatten(1), 0.99, dim=1).clamp_min(torch.finfo(torch.float32).tiny)


def effective_acceleration(mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` float: ``ny / acquired lines`` per frame (the value given to the scale embedding)."""
    return mask.shape[-1] / mask.float().sum(dim=-1).clamp_min(1)


def combine(coil_images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """SENSE combination over axis -3, ``sum conj(s) x / sum |s|^2`` (0 where the maps vanish)."""
    return (maps.conj() * coil_images).sum(-3) / ((maps.abs() ** 2).sum(-3) + 1e-6)


def sense_prior(kv: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, iterations: int,
                lam: float = 1e-2) -> torch.Tensor:
    """Per-frame CG-SENSE on the virtual coils: ``(B, ny, nx)``; ``maps`` ``(B or 1, Cv, ny, nx)``.

    The same problem as the ``cg-sense`` method (Tikhonov ``lam`` relative to ``||A^H A|| ~ 1``),
    run for a few iterations only: it is the prior the network refines, not the answer.
    """
    from inr_core.methods.solvers import conjugate_gradient

    m = mask[:, None, :, None]
    den = (maps.abs() ** 2).sum(1).amax(dim=(-2, -1)).clamp_min(1e-6)[:, None, None]  # ~1 for unit-norm maps

    def normal(x):
        k = fft2c(maps * x[:, None]) * m
        return (maps.conj() * ifft2c(k)).sum(1) / den + lam * x

    rhs = (maps.conj() * ifft2c(kv * m)).sum(1) / den
    return conjugate_gradient(normal, rhs, iterations=iterations, per_frame=True)


@dataclass
class Prepared:
    zf: torch.Tensor  # (B, Cv, ny, nx) complex, normalised zero-filled virtual-coil images
    prior: torch.Tensor  # (B, ny, nx) complex, normalised: the image the network refines
    r: torch.Tensor  # (B,) effective acceleration
    scale: torch.Tensor  # (B,) the normalisation
    u: torch.Tensor  # (C, Cv) compression
    kv: torch.Tensor  # (B, Cv, ny, nx) acquired virtual-coil k-space (unnormalised), zero elsewhere
    maps: torch.Tensor  # (B or 1, Cv, ny, nx) compressed coil maps


def prepare(kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, virtual: int, prior_iterations: int,
            u: torch.Tensor | None = None) -> Prepared:
    """Network input from ``kspace`` ``(B, C, ny, nx)``, ``mask`` ``(B, ny)`` and coil ``maps`` ``(B or 1, C, ny, nx)``.

    The prior is CG-SENSE with ``prior_iterations`` iterations (0: the SENSE-combined zero-filled
    image, the paper's setting); both it and the zero-filled virtual-coil images are divided by the
    prior's robust per-frame scale.
    """
    if u is None:
        u = compression_matrix(kspace, mask, virtual)
    kv = compress(kspace * mask[:, None, :, None], u)
    mv = compress(maps, u)
    zf = ifft2c(kv)
    prior = sense_prior(kv, mask, mv, prior_iterations) if prior_iterations else combine(zf, mv)
    scale = frame_scale(prior)
    return Prepared(zf / scale[:, None, None, None], prior / scale[:, None, None], effective_acceleration(mask),
                    scale, u, kv, mv)


# -- masks --------------------------------------------------------------------------------------------

def training_mask(rng: np.random.Generator, ny: int, r_range: tuple[int, int], kt_fraction: float) -> np.ndarray:
    """One ``(ny,)`` mask: equispaced R in ``r_range`` with an 8% centre block, or a kt frame."""
    if kt_fraction > 0 and rng.uniform() < kt_fraction:
        r = int(rng.integers(2, 11))
        t = int(rng.integers(0, r))
        if rng.uniform() < 0.5:
            return kt_uniform(ny, t + 1, r)[t]
        return kt_gaussian(ny, t + 1, r, seed=int(rng.integers(2**31)))[t]
    return equispaced(ny, 1, int(rng.integers(r_range[0], r_range[1] + 1)), center_fraction=0.08)[0]


# -- simulated samples -------------------------------------------------------------------------------

def _affine_grid(rng: np.random.Generator, shape, rot: float, zoom: tuple[float, float], shear: float,
                 shift: float, flip: bool) -> torch.Tensor:
    a = rng.uniform(-rot, rot)
    sx, sy = rng.uniform(*zoom), rng.uniform(*zoom)
    sh = rng.uniform(-shear, shear)
    c, s = math.cos(a), math.sin(a)
    m = np.array([[c, -s], [s, c]]) @ np.array([[1 / sx, sh], [0, 1 / sy]])
    if flip and rng.uniform() < 0.5:
        m = m @ np.diag([-1.0, 1.0])
    theta = np.concatenate([m, rng.uniform(-shift, shift, (2, 1))], axis=1)
    return F.affine_grid(torch.tensor(theta[None], dtype=torch.float32), [1, 1, *shape], align_corners=False)


def _warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Complex ``(N, ny, nx)`` resampled on ``grid`` (bilinear, zero outside)."""
    ri = torch.cat([x.real, x.imag])[None]
    out = F.grid_sample(ri, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    n = x.shape[0]
    return torch.complex(out[:n], out[n:])


TRAIN_PHANTOM_SEEDS = (10_000, 2**31)  # validation draws from 1000..9999, benchmarks use seeds below 1000
VAL_PHANTOM_SEEDS = (1_000, 10_000)


def simulated_image(rng: np.random.Generator, shape: tuple[int, int], seeds=TRAIN_PHANTOM_SEEDS) -> torch.Tensor:
    """One varied phantom frame ``(ny, nx)`` complex (see the module docstring)."""
    frames = 4
    images, labels = cardiac_phantom(shape, frames, seed=int(rng.integers(*seeds)), return_labels=True,
                                     phase_span=float(rng.uniform(0, 2 * math.pi)))
    t = int(rng.integers(frames))
    gain = np.zeros(shape, dtype=np.float32)
    cover = np.zeros(shape, dtype=np.float32)
    for name in sorted(labels):
        gain += labels[name][t] * float(np.exp(rng.normal(0, 0.3)))
        cover += labels[name][t]
    gain = np.where(cover > 1e-3, gain / np.maximum(cover, 1e-3), 1.0)
    image = images[t] * torch.from_numpy(gain)
    grid = _affine_grid(rng, shape, rot=0.4, zoom=(0.85, 1.2), shear=0.1, shift=0.1, flip=True)
    return _warp(image[None], grid)[0]


def simulated_maps(rng: np.random.Generator, shape: tuple[int, int], coils: int) -> torch.Tensor:
    """A cardiac array of ``coils`` elements, rotated and shifted, ``sum |s|^2 = 1``."""
    maps = cardiac_array(coils, shape, seed=int(rng.integers(2**31)))
    grid = _affine_grid(rng, shape, rot=0.3, zoom=(0.9, 1.1), shear=0.0, shift=0.1, flip=False)
    # Outside the original FOV the warp would leave zeros; border padding keeps the maps defined.
    ri = torch.cat([maps.real, maps.imag])[None]
    out = F.grid_sample(ri, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    maps = torch.complex(out[:coils], out[coils:])
    return maps / maps.abs().pow(2).sum(0, keepdim=True).sqrt().clamp_min(1e-6)


def object_support(image: torch.Tensor) -> torch.Tensor:
    """``(ny, nx)`` float 0/1: where ESPIRiT would keep the maps (signal within a few pixels).

    ESPIRiT's eigenvalue crop zeroes the maps where there is no signal (air), which makes the maps
    a support constraint; training maps must do the same or the network meets a prior it never saw
    (measured: trained on unmasked maps only, gen-inr lost 1.5 dB to CG-SENSE at R=4 with ESPIRiT).
    """
    mag = image.abs()[None, None]
    # A box of 11% of the FOV: ESPIRiT's maps reach that far beyond the object (measured on the
    # realistic simulation at 192x192: 60% of the FOV nonzero, this gives 60%).
    k = 2 * round(0.055 * max(image.shape)) + 1
    blurred = F.avg_pool2d(mag, k, stride=1, padding=k // 2, count_include_pad=False)[0, 0]
    return (blurred > 0.02 * float(mag.max())).to(torch.float32)


def noisy_kspace(rng: np.random.Generator, coil_images: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Fully sampled k-space with white complex noise at a k-space-centre SNR of ``snr_db`` (strongest coil)."""
    k = fft2c(coil_images)
    ny, nx = k.shape[-2:]
    sigma = float(k[:, ny // 2, nx // 2].abs().max()) / 10 ** (snr_db / 20)
    noise = rng.standard_normal((2, *k.shape)).astype(np.float32) * (sigma / math.sqrt(2))
    return k + torch.complex(torch.from_numpy(noise[0]), torch.from_numpy(noise[1]))


@dataclass
class Batch:
    zf: torch.Tensor  # (B, Cv, ny, nx) complex, normalised
    prior: torch.Tensor  # (B, ny, nx) complex, normalised
    target: torch.Tensor  # (B, ny, nx) complex, normalised like zf: the coil-combined truth
    r: torch.Tensor  # (B,)
    pixels: torch.Tensor  # (B, P) long


def _sample(kspace, target, maps, mask, virtual, prior_iterations):
    p = prepare(kspace[None], torch.from_numpy(mask)[None], maps[None], virtual, prior_iterations)
    return p.zf[0], p.prior[0], target / p.scale[0], p.r[0]


def _stack(samples, pixels):
    zf, prior, target, r = (torch.stack(v) for v in zip(*samples, strict=True))
    return Batch(zf, prior, target, r, pixels)


def _pixels(rng, shape, batch, count):
    n = shape[0] * shape[1]
    return torch.from_numpy(np.stack([rng.choice(n, size=min(count, n), replace=False) for _ in range(batch)]))


class SimulatedSource:
    """Training data drawn on the fly from the realistic simulation (module docstring)."""

    name = "simulation"

    def __init__(self, sizes=SIZES, coils=COILS, snr_db=(38.0, 62.0), phantom_seeds=TRAIN_PHANTOM_SEEDS,
                 support_fraction: float = 0.85):
        self.sizes, self.coils, self.snr_db = tuple(sizes), tuple(coils), tuple(snr_db)
        self.phantom_seeds = tuple(phantom_seeds)
        self.support_fraction = float(support_fraction)

    def validation(self) -> SimulatedSource:
        """The same simulation on phantom seeds training never draws."""
        return SimulatedSource(self.sizes, self.coils, self.snr_db, VAL_PHANTOM_SEEDS, self.support_fraction)

    def describe(self) -> dict:
        return {"source": self.name, "sizes": list(self.sizes), "coils": list(self.coils),
                "snr_db": list(self.snr_db)}

    def batch(self, rng: np.random.Generator, batch: int, virtual: int, r_range, kt_fraction: float,
              pixels: int, prior_iterations: int) -> Batch:
        ny = int(rng.choice(self.sizes))
        nx = int(rng.choice([s for s in self.sizes if 2 / 3 <= s / ny <= 1.5]))
        samples = []
        for _ in range(batch):
            image = simulated_image(rng, (ny, nx), self.phantom_seeds)
            maps = simulated_maps(rng, (ny, nx), int(rng.integers(self.coils[0], self.coils[1] + 1)))
            kspace = noisy_kspace(rng, image[None] * maps, float(rng.uniform(*self.snr_db)))
            mask = training_mask(rng, ny, r_range, kt_fraction)
            if rng.uniform() < self.support_fraction:
                maps = maps * object_support(image)
            samples.append(_sample(kspace, image, maps, mask, virtual, prior_iterations))
        return _stack(samples, _pixels(rng, (ny, nx), batch, pixels))


class RawSource:
    """Training data from frames of fully sampled ISMRMRD raw files (module docstring).

    ``frames``: list of ``(C, ny, nx)`` complex k-space, one per frame (all slices of all files);
    ``maps``: the ``(C, ny, nx)`` ESPIRiT maps of each frame's slice (the target is the fully
    sampled image combined with them, the prior is computed with them, as at inference).
    """

    name = "raw"

    def __init__(self, frames: list[torch.Tensor], maps: list[torch.Tensor], files: list[str]):
        if not frames:
            raise ValueError("no fully sampled frames to train on")
        self.frames, self.maps, self.files = frames, maps, files
        self.shapes = sorted({tuple(f.shape[-2:]) for f in frames})
        self.by_shape = {s: [i for i, f in enumerate(frames) if tuple(f.shape[-2:]) == s] for s in self.shapes}
        self.sizes = sorted({v for s in self.shapes for v in s})
        self.coils = (min(f.shape[0] for f in frames), max(f.shape[0] for f in frames))

    def describe(self) -> dict:
        return {"source": self.name, "files": self.files, "frames": len(self.frames),
                "sizes": list(self.sizes), "coils": list(self.coils)}

    def batch(self, rng: np.random.Generator, batch: int, virtual: int, r_range, kt_fraction: float,
              pixels: int, prior_iterations: int) -> Batch:
        shape = self.shapes[int(rng.integers(len(self.shapes)))]
        pool = self.by_shape[shape]
        samples = []
        for _ in range(batch):
            i = pool[int(rng.integers(len(pool)))]
            kspace, maps = self.frames[i], self.maps[i]
            mask = training_mask(rng, shape[0], r_range, kt_fraction)
            samples.append(_sample(kspace, combine(ifft2c(kspace), maps), maps, mask, virtual, prior_iterations))
        return _stack(samples, _pixels(rng, shape, batch, pixels))

    def split(self, fraction: float = 0.1) -> tuple[RawSource, RawSource]:
        """(training, validation): whole files held out when there are several, else the last frames."""
        files = sorted(set(self.files))
        if len(files) >= 2:
            held = set(files[-max(1, round(fraction * len(files))):])
            val = [i for i, f in enumerate(self.files) if f in held]
        else:
            n = len(self.frames)
            val = list(range(n - max(1, round(fraction * n)), n)) if n >= 2 else []
        if not val or len(val) == len(self.frames):
            raise ValueError(f"need at least 2 fully sampled frames to hold some out for validation, "
                             f"got {len(self.frames)}")
        train = [i for i in range(len(self.frames)) if i not in set(val)]
        pick = lambda idx: RawSource([self.frames[i] for i in idx], [self.maps[i] for i in idx],  # noqa: E731
                                     [self.files[i] for i in idx])
        return pick(train), pick(val)
