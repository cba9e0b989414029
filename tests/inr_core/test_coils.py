import torch
from conftest import cartesian_mask, gaussian_maps, moving_disc, radial_trajectory

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
