"""Multi-coil simulation: coil maps, noise covariance, SNR, Cartesian and radial k-space."""

import math

import numpy as np
import pytest
import torch

from inr_core.fft import fft1c, fft2c, ifft1c, ifft2c
from inr_core.simulate import (
    Realism,
    cardiac_array,
    coil_sensitivities,
    g_factor,
    kspace_centre_snr_db,
    noise_covariance,
    radial_kspace,
    simulate_cine,
)


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


# --- realistic mode -----------------------------------------------------------------------------------

def _centre_snr_db_by_hand(centre, noise):
    """SNR_DB_DEFINITION spelled out: max over coils of mean_t |centre sample| / noise std of that coil."""
    sigma = np.sqrt((np.abs(noise) ** 2).mean(axis=1))
    per_coil = np.abs(centre).reshape(centre.shape[0], centre.shape[1], -1).mean(axis=(0, 2)) / sigma
    return 20 * np.log10(per_coil.max())


@pytest.mark.parametrize("trajectory", ["cartesian", "radial"])
def test_realistic_noise_is_set_by_kspace_centre_snr_db(trajectory):
    sim = simulate_cine(32, frames=3, coils=4, seed=1, trajectory=trajectory, spokes=5, realism=Realism(snr_db=40.0))
    k = sim.kspace.numpy()  # noisy, as written to a file
    centre = k[:, :, 16, 32] if trajectory == "cartesian" else k[..., 32]
    assert abs(_centre_snr_db_by_hand(centre, sim.noise.numpy()) - 40.0) < 0.3
    assert sim.snr_db == 40.0
    heart_mean = sim.images.abs().numpy()[sim.heart_mask].mean()
    assert math.isclose(sim.snr, heart_mean / sim.noise_std, rel_tol=1e-5)  # snr reports the image-domain SNR


def test_realistic_snr_db_scales_the_noise_by_20_db_per_decade():
    a, b = (simulate_cine(32, frames=2, coils=2, seed=0, realism=Realism(snr_db=db)) for db in (30.0, 50.0))
    assert math.isclose(a.noise_std / b.noise_std, 10.0, rel_tol=1e-6)


def test_realistic_mode_keeps_the_anatomy_and_changes_phase_and_coils():
    plain = simulate_cine(32, frames=2, coils=4, seed=2)
    real = simulate_cine(32, frames=2, coils=4, seed=2, realism=Realism())
    np.testing.assert_allclose(real.images.abs().numpy(), plain.images.abs().numpy(), atol=1e-6)
    assert not torch.allclose(real.coil_maps, plain.coil_maps)
    assert plain.realism is None and plain.snr_db is None


def test_background_phase_spans_the_requested_radians():
    from inr_core.phantom import cardiac_phantom

    flat = cardiac_phantom(48, 1, seed=3, phase_span=0.0)[0].numpy()
    body = np.abs(flat) > 0.02
    assert np.ptp(np.angle(flat[body] * np.conj(flat[body][0]))) < 1e-5
    img = cardiac_phantom(48, 1, seed=3, phase_span=2.0)[0].numpy()
    rel = np.angle(img[body] * np.conj(img[body].mean()))  # no wrap: the spread is under pi
    assert 0.5 < np.ptp(rel) <= 2.0 + 1e-4


def test_realism_validates_its_values():
    assert Realism().snr_db == 50.0 and Realism().partial_fourier is None and Realism().siemens_acs_flags
    assert Realism(partial_fourier=0.75).first_line(32) == 8
    for bad in (dict(partial_fourier=1.0), dict(partial_fourier=0.4), dict(snr_db=float("nan")),
                dict(background_phase_rad=-1.0)):
        with pytest.raises(ValueError):
            Realism(**bad)


def test_cardiac_array_has_anterior_and_posterior_rows():
    maps = cardiac_array(10, (64, 64), seed=0)
    assert maps.shape == (10, 64, 64) and maps.dtype == torch.complex64
    assert torch.allclose((maps.abs() ** 2).sum(0), torch.ones(64, 64), atol=1e-5)
    peak_rows = (maps.abs() ** 2).amax(dim=2).argmax(dim=1)  # row of each coil's strongest pixel
    assert (peak_rows[:5] < 16).all() and (peak_rows[5:] >= 48).all()


def test_g_factor_is_one_for_disjoint_coils_and_realistic_for_the_cardiac_array():
    top = np.zeros((2, 8, 4), complex)
    top[0, :4], top[1, 4:] = 1, 1  # each coil sees one of the two pixels that alias at R=2
    np.testing.assert_allclose(g_factor(top, 2), 1.0)
    np.testing.assert_allclose(g_factor(cardiac_array(4, 32), 1), 1.0, atol=1e-5)

    sim = simulate_cine(96, frames=1, coils=10, seed=0, realism=Realism())
    g = g_factor(sim.coil_maps, 4)[sim.heart_mask[0]]
    assert (g >= 1 - 1e-6).all()
    assert 1.2 < g.mean() < 3.0 and g.max() < 6.0
    with pytest.raises(ValueError):
        g_factor(sim.coil_maps, 5)  # 96 rows do not fold evenly by 5
    with pytest.raises(ValueError, match="coils"):
        g_factor(sim.coil_maps[:3], 4)


def test_kspace_centre_snr_db_helper_matches_the_definition():
    rng = np.random.default_rng(0)
    centre = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    sigma = np.array([0.5, 1.0, 2.0, 1.0])
    want = 20 * np.log10((np.abs(centre).mean(axis=0) / sigma).max())
    assert math.isclose(kspace_centre_snr_db(centre, sigma), want)
