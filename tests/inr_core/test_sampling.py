"""Sampling patterns: the CMRxRecon2024 k-t masks, equispaced masks and golden-angle radial spokes."""

import math

import numpy as np
import pytest

from inr_core.sampling import (
    acs_lines,
    calibration_lines,
    equispaced,
    golden_angle_angles,
    kt_gaussian,
    kt_uniform,
    lattice_mask,
    make_mask,
    parse_pattern,
    partial_fourier_first_line,
    radial_trajectory,
)

NY, FRAMES = 96, 12


def test_acs_block_is_the_16_central_lines():
    assert list(acs_lines(NY)) == list(range(NY // 2 - 8, NY // 2 + 8))


@pytest.mark.parametrize("r", [4, 8])
def test_kt_uniform_is_a_shifted_lattice_plus_acs(r):
    mask = kt_uniform(NY, FRAMES, r)
    acs = np.zeros(NY, bool)
    acs[acs_lines(NY)] = True
    for t in range(FRAMES):
        lattice = (np.arange(NY) - t) % r == 0
        assert np.array_equal(mask[t], lattice | acs)  # union: lattice lines inside the ACS count once
        assert mask[t].sum() == NY // r + 16 - (lattice & acs).sum()


@pytest.mark.parametrize("r", [4, 8])
def test_kt_gaussian_draws_round_ny_over_r_lines_per_frame(r):
    drawn = kt_gaussian(NY, FRAMES, r, acs_lines=0, seed=3)
    assert drawn.shape == (FRAMES, NY) and drawn.dtype == bool
    assert (drawn.sum(axis=1) == round(NY / r)).all()  # duplicates moved, never lost
    full = kt_gaussian(NY, FRAMES, r, seed=3)
    acs = np.zeros(NY, bool)
    acs[acs_lines(NY)] = True
    assert np.array_equal(full, drawn | acs)  # same draws; the ACS is added on top


def test_kt_gaussian_prefers_the_centre_and_varies_over_time():
    mask = kt_gaussian(256, 40, 8, acs_lines=0, seed=0)
    centre = mask[:, 128 - 25:128 + 25].mean()
    edge = np.concatenate([mask[:, :50], mask[:, -50:]], axis=1).mean()
    assert centre > 2 * edge
    assert not all(np.array_equal(mask[0], mask[t]) for t in range(1, 40))


def test_kt_gaussian_is_deterministic_per_seed():
    a, b, c = (kt_gaussian(NY, FRAMES, 8, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # frame t depends only on (seed, t): a longer mask starts with the shorter one
    assert np.array_equal(kt_gaussian(NY, FRAMES + 4, 8, seed=5)[:FRAMES], a)


def test_equispaced_has_every_rth_line_and_a_central_block_in_every_frame():
    mask = equispaced(100, 5, 4)
    assert (mask == mask[0]).all()
    assert mask[0, 50] and mask[0, 54] and mask[0, 2]
    block = round(100 * 0.08)
    start = (100 - block + 1) // 2
    assert mask[0, start:start + block].all()


def test_pattern_registry():
    for name in ("kt-uniform", "kt-gaussian", "equispaced"):
        assert make_mask(name, 64, 4, 4, seed=1).shape == (4, 64)
    assert parse_pattern("KT_Gaussian") is parse_pattern("kt-gaussian")
    with pytest.raises(ValueError, match="known"):
        parse_pattern("poisson-disc")


def test_golden_angle_increments_continue_across_frames():
    angles = golden_angle_angles(3, 5)
    flat = angles.reshape(-1)
    step = np.mod(np.diff(flat), math.pi)
    assert np.allclose(step, math.radians(111.246) % math.pi)
    assert np.allclose(golden_angle_angles(1, 5, offset=5)[0], angles[1])
    assert (angles >= 0).all() and (angles < math.pi).all()


def test_radial_trajectory_scale_and_centre():
    n = 16
    traj = radial_trajectory(golden_angle_angles(2, 3), 2 * n, oversampling=2)
    assert traj.shape == (2, 3, 2 * n, 2) and traj.dtype == np.float32
    radius = np.linalg.norm(traj, axis=-1)
    assert np.allclose(radius[..., n], 0)  # DC at samples // 2
    assert np.allclose(radius[..., 0], n / 2)  # the spoke starts at -n/2 cycles/FOV
    assert np.allclose(np.diff(radius[0, 0, n:]), 0.5, atol=1e-5)  # steps of 1/oversampling
    assert np.allclose(traj[0, 0, n + 2], [np.cos(0) * 1.0, 0.0])  # first spoke at angle 0


@pytest.mark.parametrize("name", ["kt-uniform", "kt-gaussian", "equispaced"])
@pytest.mark.parametrize("r", [2, 4, 8])
def test_lattice_is_the_mask_without_its_acs_block(name, r):
    mask = make_mask(name, NY, FRAMES, r, seed=4)
    lattice = lattice_mask(name, NY, FRAMES, r, seed=4)
    acs = np.zeros(NY, bool)
    acs[calibration_lines(name, NY)] = True
    assert np.array_equal(mask, lattice | acs)
    assert lattice.sum(axis=1).max() <= round(NY / r) + 1  # no block left in it


def test_kt_uniform_lattice_is_the_shifted_lattice():
    lattice = lattice_mask("kt-uniform", NY, FRAMES, 4)
    y, t = np.arange(NY)[None, :], np.arange(FRAMES)[:, None]
    assert np.array_equal(lattice, (y - t) % 4 == 0)


def test_partial_fourier_first_line_keeps_the_dc_line():
    assert partial_fourier_first_line(96, None) == 0
    assert partial_fourier_first_line(96, 0.75) == 24
    assert partial_fourier_first_line(96, 0.5) == 48 == 96 // 2
    assert partial_fourier_first_line(33, 0.5) == 16  # rounding never drops the DC line
    with pytest.raises(ValueError):
        partial_fourier_first_line(96, 0.3)
