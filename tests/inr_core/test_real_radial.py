"""The radial path on real data: our NUFFT adjoint with density compensation against a brute-force
DFT (an independent implementation) on the real MD-CNN frame. Checks trajectory scaling, density
compensation and orientation together; skipped when ``../shared/data`` is not beside the checkout."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from inr_core.operators.nufft import RadialNUFFT, radial_density
from inr_core.real_radial import load_real_radial_frame

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mdcnn_cardiac_cine_radial_frame_1coil.npy"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared/data not present")


def _dft_adjoint(samples, traj, weights, shape):
    """sum_k w_k y_k exp(+2 pi i k.r / n) evaluated on a centred grid, the slow and obvious way."""
    ny, nx = shape
    y = (np.arange(ny) - ny // 2)[:, None]
    x = (np.arange(nx) - nx // 2)[None, :]
    out = np.zeros(shape, complex)
    for kx, ky, v in zip(traj[:, 0], traj[:, 1], samples * weights, strict=True):
        out += v * np.exp(2j * math.pi * (kx * x / nx + ky * y / ny))
    return out


def test_real_frame_matches_brute_force_dft_at_low_resolution():
    data = load_real_radial_frame(DATA)
    # Keep the samples inside a 48 x 48 image's k-space and reconstruct that FOV at low resolution:
    # a 208-pixel FOV sampled at 48 points per axis, i.e. k scaled to the smaller matrix.
    n = 48
    traj = data.trajectory_k[0].reshape(-1, 2).numpy()
    keep = np.abs(traj).max(axis=1) < n / 2 - 1
    samples = data.kspace[0, 0].reshape(-1).numpy()[keep]
    traj = traj[keep]
    w = radial_density(data.trajectory_k)[0].reshape(-1).numpy()[keep]
    reference = _dft_adjoint(samples, traj, w, (n, n))

    ours = RadialNUFFT(torch.from_numpy(traj)[None, None], (n, n)).adjoint(
        torch.from_numpy(samples * w)[None, None, None].to(torch.complex64))[0, 0].numpy()
    ours = ours * n  # undo the orthonormal 1/sqrt(ny*nx) to compare with the plain sum
    corr = abs(np.vdot(ours, reference)) / (np.linalg.norm(ours) * np.linalg.norm(reference))
    assert corr > 0.999
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < 0.02
