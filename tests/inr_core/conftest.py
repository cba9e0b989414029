"""Tiny self-contained fixtures: a moving-disc cine, smooth coil maps, Cartesian and radial data."""

from __future__ import annotations

import pytest
import torch
from inr_helpers import cartesian_mask, gaussian_maps, moving_disc, radial_trajectory

from inr_core.data import CartesianCine, RadialCine
from inr_core.fft import fft2c
from inr_core.operators import RadialNUFFT


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
