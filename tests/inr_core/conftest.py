"""Tiny self-contained fixtures: a moving-disc cine, smooth coil maps, Cartesian and radial data."""

from __future__ import annotations

import math

import pytest
import torch

from inr_core.data import CartesianCine, RadialCine
from inr_core.fft import fft2c
from inr_core.operators import RadialNUFFT


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


@pytest.fixture
def truth():
    return moving_disc()


@pytest.fixture
def maps():
    return gaussian_maps()


@pytest.fixture
def cartesian(truth, maps):
    g = torch.Generator().manual_seed(1)
    coil_k = fft2c(truth[:, None] * maps)
    noise = 1e-3 * torch.randn(coil_k.shape, dtype=torch.complex64, generator=g)
    mask = cartesian_mask(truth.shape[0], truth.shape[-1])
    return CartesianCine(kspace=(coil_k + noise) * mask[:, None, :, None], mask=mask)


@pytest.fixture
def radial(truth, maps):
    n = truth.shape[-1]
    traj = radial_trajectory(truth.shape[0], 8, n)
    kspace = RadialNUFFT(traj, (n, n))(truth[:, None] * maps)
    return RadialCine(kspace=kspace, trajectory_k=traj, image_shape=(n, n))
