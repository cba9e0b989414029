"""Multi-coil simulation: coil maps, noise covariance, SNR, Cartesian and radial k-space."""

import math

import numpy as np
import pytest
import torch

from inr_core.fft import fft1c, fft2c, ifft1c, ifft2c
from inr_core.simulate import coil_sensitivities, noise_covariance, radial_kspace, simulate_cine


def test_coil_maps_are_normalised_smooth_and_distinct():
    maps = coil_sensitivities(8, (40, 48), seed=2)
    assert maps.shape == (8, 40, 48) and maps.dtype == torch.complex64
    assert torch.allclose((maps.abs() ** 2).sum(0), torch.ones(40, 48), atol=1e-5)
    power = (maps.abs() ** 2).reshape(8, -1)
    assert (power.argmax(dim=1).unique().numel()) >= 6  # each coil peaks in its own place
    assert (maps[:, :, 1:] - maps[:, :, :-1]).abs().max() < 0.3  # smooth from pixel to pixel


def test_noise_covariance_is_hermitian_pd_and_correlated():
    cov = noise_covariance(8, seed=0)
    assert np.allclose(cov, cov.conj().T)
    assert np.linalg.eigvalsh(cov).min() > 0
    assert np.isclose(np.real(np.trace(cov)) / 8, 1.0)
    d = np.sqrt(np.real(np.diag(cov)))
    corr = np.abs(cov / np.outer(d, d))[~np.eye(8, dtype=bool)]
    assert 0.08 < corr.mean() < 0.35


@pytest.fixture(scope="module")
def cartesian():
    return simulate_cine(48, frames=4, coils=4, snr=20, seed=3)


def test_cartesian_shapes_and_noise_scan(cartesian):
    sim = cartesian
    assert sim.kspace.shape == (4, 4, 48, 96)  # readout oversampled 2x
    assert sim.images.shape == (4, 48, 48) and sim.coil_maps.shape == (4, 48, 48)
    assert sim.noise.shape == (4, 32 * 96)
    measured = np.cov(sim.noise.numpy()) / sim.noise_std**2
    assert np.abs(measured - sim.noise_covariance).max() < 0.1


def test_snr_is_roughly_as_requested(cartesian):
    sim = cartesian
    # remove the readout oversampling, then combine the coils with the true maps
    k = fft1c(ifft1c(sim.kspace, dim=-1)[..., 24:72], dim=-1)
    combined = (ifft2c(k) * sim.coil_maps.conj()).sum(1)
    noise = (combined - sim.images).abs().pow(2).mean().sqrt().item()
    snr = sim.images.abs().numpy()[sim.heart_mask].mean() / noise
    assert 20 * 0.75 < snr < 20 * 1.25


def test_simulation_is_deterministic():
    a = simulate_cine(32, frames=2, coils=2, snr=10, seed=7)
    b = simulate_cine(32, frames=2, coils=2, snr=10, seed=7)
    c = simulate_cine(32, frames=2, coils=2, snr=10, seed=8)
    assert torch.equal(a.kspace, b.kspace)
    assert not torch.equal(a.kspace, c.kspace)


def test_radial_nufft_matches_fft2c_on_grid_points():
    n = 24
    img = torch.randn(1, 2, n, n, dtype=torch.complex64)
    ky, kx = torch.meshgrid(torch.arange(-4, 4), torch.arange(-5, 3), indexing="ij")
    traj = torch.stack([kx.flatten(), ky.flatten()], -1).float()[None, None]  # (1, 1, 64, 2)
    got = radial_kspace(img, traj)[:, :, 0]
    want = fft2c(img)[:, :, ky.flatten() + n // 2, kx.flatten() + n // 2]
    assert (got - want).abs().max() / want.abs().max() < 1e-2


def test_radial_simulation():
    sim = simulate_cine(32, frames=3, coils=2, snr=1e6, seed=0, trajectory="radial", spokes=5)
    assert sim.kspace.shape == (3, 2, 5, 64)
    assert sim.trajectory_k.shape == (3, 5, 64, 2)
    dc = fft2c(sim.images[:, None] * sim.coil_maps[None])[..., 16, 16]
    assert torch.allclose(sim.kspace[..., 32], dc[:, :, None].expand(-1, -1, 5), rtol=1e-2, atol=1e-3)
    assert math.isclose(float(sim.trajectory_k.abs().max()), 16.0)
