"""Tiny self-contained test data: a moving-disc cine, smooth coil maps, radial spokes, Cartesian masks.

Imported by name (``from inr_helpers import ...``): every test folder has a conftest, and ``from
conftest import`` resolves to whichever folder's conftest loaded first."""

from __future__ import annotations

import math

import torch


def moving_disc(n: int = 32, frames: int = 6) -> torch.Tensor:
    """(T, n, n) complex64: a static body ellipse with a smooth phase and a disc whose radius beats."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    body = ((x / 0.8) ** 2 + (y / 0.65) ** 2 < 1).float() * 0.5
    series = []
    for t in range(frames):
        radius = 0.25 + 0.08 * math.sin(2 * math.pi * t / frames)
        disc = ((x - 0.1) ** 2 + y**2 < radius**2).float() * 0.8
        inner = ((x + 0.35) ** 2 + (y - 0.2) ** 2 < 0.1**2).float() * 0.3
        series.append(body + disc + inner)
    phase = torch.exp(1j * math.pi / 4 * (x + 0.5 * y))
    return (torch.stack(series) * phase).to(torch.complex64)


def gaussian_maps(n: int = 32, coils: int = 4) -> torch.Tensor:
    """(C, n, n) smooth complex maps from coils on a ring, normalised to sum |s|^2 = 1."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    maps = []
    for c in range(coils):
        a = 2 * math.pi * c / coils
        cx, cy = 1.2 * math.cos(a), 1.2 * math.sin(a)
        mag = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 1.5)
        maps.append(mag * torch.exp(1j * (0.5 * c + 0.4 * x * math.cos(a) - 0.3 * y)))
    maps = torch.stack(maps)
    return (maps / (maps.abs() ** 2).sum(0).sqrt()).to(torch.complex64)


def radial_trajectory(frames: int, spokes: int, n: int, oversampling: int = 2) -> torch.Tensor:
    """(T, S, N, 2) golden-angle full spokes in cycles/FOV (own copy; inr_core.sampling may differ)."""
    samples = oversampling * n
    r = (torch.arange(samples) - samples // 2) / oversampling
    angles = torch.arange(frames * spokes) * math.radians(111.246)
    k = torch.stack([r[None] * torch.cos(angles[:, None]), r[None] * torch.sin(angles[:, None])], dim=-1)
    return k.reshape(frames, spokes, samples, 2).to(torch.float32)


def cartesian_mask(frames: int, n: int, acceleration: int = 4, acs: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(frames, n, generator=g) < 1.0 / acceleration
    mask[:, n // 2 - acs // 2: n // 2 + acs // 2] = True
    return mask
