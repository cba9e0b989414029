"""RemoveReadoutOversampling: Cartesian and radial readouts, header fields, trajectory."""

import numpy as np
from gadget_helpers import make_acq, make_header

from gadgets.oversampling import RemoveReadoutOversampling


def cfft(x):
    return np.fft.fftshift(np.fft.fft(np.fft.ifftshift(x, axes=-1), axis=-1, norm="ortho"), axes=-1)


def test_cartesian_readout_is_cropped_to_the_recon_fov():
    n = 16
    profile = np.zeros((2, 2 * n), np.complex64)
    profile[:, n // 2:n // 2 + n] = np.random.default_rng(0).standard_normal((2, n))  # object inside recon FOV
    acq = make_acq(cfft(profile), center_sample=n, line=5)
    (out,) = RemoveReadoutOversampling({}, make_header(nx=n, oversampling=2)).process(acq)
    assert out.number_of_samples == n and out.center_sample == n // 2 and out.idx.kspace_encode_step_1 == 5
    np.testing.assert_allclose(out.data, cfft(profile[:, n // 2:n // 2 + n]), atol=1e-5)


def test_radial_keeps_every_second_trajectory_sample_and_its_value():
    n = 16
    traj = np.stack([np.arange(-n, n) / 2.0, np.zeros(2 * n)], axis=1).astype(np.float32)
    profile = np.zeros((2, 2 * n), np.complex64)
    profile[:, n // 2 + 3] = 1.0  # a point inside the recon FOV
    data = cfft(profile)
    acq = make_acq(data, traj=traj, center_sample=n)
    header = make_header(nx=n, oversampling=2, trajectory="radial")
    assert list(RemoveReadoutOversampling({}, header).process(acq)) == [acq]  # kept by default
    (out,) = RemoveReadoutOversampling({"non_cartesian": "true"}, header).process(acq)
    assert out.traj.shape == (n, 2) and out.trajectory_dimensions == 2
    np.testing.assert_array_equal(out.traj[:, 0], np.arange(-n, n, 2) / 2.0)
    assert out.traj[out.center_sample, 0] == 0.0  # the centre sample stays at k = 0
    np.testing.assert_allclose(out.data, data[:, 0::2], atol=1e-5)  # NUFFT convention: values kept


def test_inactive_without_oversampling():
    acq = make_acq(np.ones((2, 16)))
    assert list(RemoveReadoutOversampling({}, make_header(nx=16)).process(acq)) == [acq]
