"""The cardiac phantom: shape, beating dynamics, texture."""

import math
import time

import numpy as np
import torch

from inr_core.phantom import cardiac_phantom, contraction, phantom_geometry


def _radii(labels, t):
    endo = (labels["lv_blood"][t] + labels["lv_papillary"][t]).sum()
    epi = endo + labels["lv_myo"][t].sum()
    return math.sqrt(endo / math.pi), math.sqrt(epi / math.pi)


def test_shape_dtype_and_values():
    img = cardiac_phantom(48, frames=6, seed=1)
    assert img.shape == (6, 48, 48) and img.dtype == torch.complex64
    assert torch.isfinite(img.real).all() and torch.isfinite(img.imag).all()
    assert 0.5 < img.abs().max() < 2.0
    assert cardiac_phantom((40, 56), frames=2).shape == (2, 40, 56)


def test_lv_contracts_and_wall_thickens_in_systole():
    frames = 20
    _, labels = cardiac_phantom(96, frames=frames, return_labels=True)
    c = contraction(np.arange(frames) / frames)
    ed, es = int(np.argmin(c)), int(np.argmax(c))
    endo_ed, epi_ed = _radii(labels, ed)
    endo_es, epi_es = _radii(labels, es)
    assert endo_es**2 < 0.6 * endo_ed**2  # blood-pool area ejection fraction above 40%
    assert (epi_es - endo_es) > 1.2 * (epi_ed - endo_ed)  # systolic wall thickening
    assert labels["rv_blood"][es].sum() < labels["rv_blood"][ed].sum()


def test_contraction_curve_is_one_smooth_heartbeat():
    phase = np.linspace(0, 1, 201)
    c = contraction(phase)
    assert c[0] == 0 and abs(c[-1]) < 1e-9 and c.max() == 1.0
    assert 0.25 < phase[np.argmax(c)] < 0.45  # end-systole about a third into the RR interval
    assert np.abs(np.diff(c)).max() < 0.05


def test_texture_is_not_flat_and_depends_on_seed():
    img, labels = cardiac_phantom(96, frames=2, seed=0, return_labels=True)
    myo = labels["lv_myo"][0] > 0.9
    liver = labels["liver"][0] > 0.9
    for region in (myo, liver):
        values = img[0].abs().numpy()[region]
        assert values.std() / values.mean() > 0.03
    other = cardiac_phantom(96, frames=2, seed=1)
    assert not torch.allclose(img.abs(), other.abs())


def test_geometry_points_at_the_lv():
    geom = phantom_geometry(128)
    _, labels = cardiac_phantom(128, frames=1, return_labels=True)
    row, col = (int(round(v)) for v in geom.heart_center)
    assert labels["lv_blood"][0, row, col] > 0.99
    r0, r1, c0, c1 = geom.heart_box
    heart = labels["lv_myo"][0] + labels["rv_blood"][0]
    assert heart[r0:r1, c0:c1].sum() > 0.98 * heart.sum()


def test_fast_enough():
    start = time.perf_counter()
    cardiac_phantom(128, frames=20)
    assert time.perf_counter() - start < 2.0
