import pytest
import torch
from inr_helpers import cartesian_mask, gaussian_maps, moving_disc, radial_trajectory

from inr_core.coils import calibration_kspace, coil_combine, estimate_coil_maps
from inr_core.data import CartesianCine, RadialCine
from inr_core.fft import fft2c, ifft2c
from inr_core.operators import RadialNUFFT

N, T, C = 48, 4, 6


def _agreement(est, true, obj):
    return float((est.conj() * true).sum(0).abs()[obj].mean())


def test_espirit_cartesian_time_averaged_acs():
    truth, maps = moving_disc(N, T), gaussian_maps(N, C)
    mask = cartesian_mask(T, N, acceleration=4, acs=16)
    data = CartesianCine(kspace=fft2c(truth[:, None] * maps) * mask[:, None, :, None], mask=mask)
    calib = calibration_kspace(data, width=24)
    rows = calib.abs().sum(dim=(0, 2)) > 0
    assert rows[N // 2 - 8: N // 2 + 8].all() and int(rows.sum()) <= 24
    est = estimate_coil_maps(data)
    assert est.shape == maps.shape and est.dtype == torch.complex64
    assert _agreement(est, maps, truth[0].abs() > 0) > 0.98


def test_espirit_radial_pooled_spokes():
    truth, maps = moving_disc(N, T), gaussian_maps(N, C)
    traj = radial_trajectory(T, 13, N)
    data = RadialCine(kspace=RadialNUFFT(traj, (N, N))(truth[:, None] * maps), trajectory_k=traj,
                      image_shape=(N, N))
    est = estimate_coil_maps(data)
    assert _agreement(est, maps, truth[0].abs() > 0) > 0.98


def test_coil_combine_inverts_expansion():
    truth, maps = moving_disc(N, T), gaussian_maps(N, C)
    images = coil_combine(ifft2c(fft2c(truth[:, None] * maps)), maps)
    assert torch.allclose(images, truth, atol=1e-4)


@pytest.mark.parametrize("trajectory", ["cartesian", "radial"])
def test_espirit_on_project_simulation(trajectory):
    """The issue's criterion (mean |<s_est, s_true>| > 0.98 over the object) on the realistic simulation."""
    from inr_core.fft import fft1c, ifft1c
    from inr_core.sampling import make_mask
    from inr_core.simulate import simulate_cine

    sim = simulate_cine(matrix=128, frames=4, coils=8, seed=0, trajectory=trajectory, spokes=13)
    if trajectory == "cartesian":
        k = ifft1c(sim.kspace, dim=-1)
        k = fft1c(k[..., 64:192], dim=-1)  # remove the 2x readout oversampling
        mask = torch.from_numpy(make_mask("kt-gaussian", 128, 4, 8, seed=0))
        data = CartesianCine(kspace=k * mask[:, None, :, None], mask=mask)
    else:
        data = RadialCine(kspace=sim.kspace, trajectory_k=sim.trajectory_k, image_shape=(128, 128))
    obj = sim.images.abs().amax(0) > 0.05 * sim.images.abs().max()
    assert _agreement(estimate_coil_maps(data), sim.coil_maps, obj) > 0.98
