"""The classical refinement after an INR (inr_core/methods/inr/refine.py): its limits, its errors, every INR's hook."""

import pytest
import torch

from inr_core.data import CartesianCine
from inr_core.methods import get_method
from inr_core.methods.inr.fit import FitConfig
from inr_core.methods.inr.refine import refined
from inr_core.methods.proximal import LeastSquares
from inr_core.settings import SettingsError


def _cfg(**values) -> FitConfig:
    return FitConfig(**values)


def _relative(a, b) -> float:
    return float((a - b).norm() / b.norm())


def _start(truth, seed=3):
    """Somewhere else than A^H y: the truth plus noise at 10% of its scale (an 'INR image')."""
    g = torch.Generator().manual_seed(seed)
    return truth + 0.1 * truth.abs().max() * torch.randn(truth.shape, dtype=torch.complex64, generator=g)


def test_zero_iterations_is_the_inr_image_unchanged(cartesian, maps, truth):
    image = _start(truth)
    assert refined(image, cartesian, maps, _cfg(refine_iterations=0, refine_pull=0.0)) is image


@pytest.mark.parametrize("name", ["llr", "grasp", "l-plus-s"])
@pytest.mark.parametrize("trajectory", ["cartesian", "radial"])
def test_no_pull_from_the_gridded_series_is_the_classical_method(name, trajectory, request, maps):
    """Started where the method starts (A^H y) with no pull, the refinement IS the method: same numbers."""
    data = request.getfixturevalue(trajectory)
    cls = get_method(name)
    classical = cls(cls.make_config(iterations=4))(data, maps)
    rhs = LeastSquares.of(data, maps).rhs
    out = refined(rhs, data, maps, _cfg(refine_iterations=4, refine_pull=0.0, refine_with=name))
    assert torch.equal(out, classical)


@pytest.mark.parametrize("name", ["llr", "grasp"])
def test_as_the_pull_goes_to_zero_it_tends_to_the_classical_image(name, cartesian, maps, truth):
    """From another start, with enough iterations, the classical minimiser again; a pull keeps it away.

    LLR with one block over the whole matrix: the random block shifts then permute the Casorati rows only,
    so the objective is one fixed convex function and FISTA converges to its minimiser (as GRASP's does)."""
    over = {"block": truth.shape[-1]} if name == "llr" else {}
    cls = get_method(name)
    classical = cls(cls.make_config(iterations=400, **over))(cartesian, maps)
    start = _start(truth)
    method = cls(cls.make_config(iterations=400, **over))
    far = _relative(start, classical)
    pulls = (1.0, 0.1, 0.01, 0.0)
    away = [_relative(method.solve(cartesian, maps, start=start, pull=pull), classical) for pull in pulls]
    assert away == sorted(away, reverse=True) and len(set(away)) == len(away)  # closer as the pull shrinks
    assert away[-1] < 1e-2 * far  # no pull: the classical image again, from a start a third of it away
    assert away[0] > 0.2 * far  # a pull of ||A^H A|| holds it a good part of the way back


@pytest.mark.parametrize("name", ["llr", "grasp", "l-plus-s"])
def test_a_large_pull_returns_the_inr_image(name, radial, maps, truth):
    """Each iteration moves x by (gradient at x_inr + the regulariser's part) / (||A^H A|| + mu): with mu a
    million times ||A^H A|| that is ~1e-6 of the image per iteration."""
    start = _start(truth)
    out = refined(start, radial, maps, _cfg(refine_iterations=10, refine_pull=1e6, refine_with=name))
    assert _relative(out, start) < 1e-4
    moved = refined(start, radial, maps, _cfg(refine_iterations=10, refine_pull=0.1, refine_with=name))
    assert _relative(moved, start) > 1e-2  # the same iterations with a small pull do move it


def test_pulled_least_squares_is_the_data_term_plus_the_pull(cartesian, maps, truth):
    problem = LeastSquares.of(cartesian, maps)
    towards, x, mu = _start(truth, 1), _start(truth, 2), 0.7
    pulled = problem.pulled(towards, mu)
    expected = x - 0.1 * (problem.gram(x) + mu * x - problem.rhs - mu * towards)
    torch.testing.assert_close(pulled.gradient_step(x, 0.1), expected, rtol=1e-5, atol=1e-6 * float(x.abs().max()))
    assert pulled.curvature == problem.lipschitz + mu and pulled.rhs is problem.rhs
    with pytest.raises(ValueError, match="pull must be a finite number >= 0"):
        problem.pulled(towards, -1.0)
    with pytest.raises(ValueError, match="shape"):
        problem.pulled(towards[:2], 1.0)


@pytest.mark.parametrize("option, value, message", [
    ("refine_pull", "-0.5", "refine_pull"),
    ("refine_pull", "nan", "refine_pull"),
    ("refine_iterations", "ten", "refine_iterations"),
    ("refine_with", "lrr", "refine_with 'lrr' is not a classical solver"),
])
def test_a_bad_refinement_option_is_one_clear_error(option, value, message):
    for name in ("lr-inr", "p-inr", "kp-inr", "da-inr", "hash-inr"):
        with pytest.raises(SettingsError, match=message):
            get_method(name).make_config(**{option: value})


def test_refinement_that_cannot_run_is_refused_before_the_fit(radial, cartesian, maps):
    da = get_method("da-inr")
    with pytest.raises(ValueError, match="out_scale at 1"):
        da(da.make_config(refine_iterations=3, out_scale=2.0, steps=10**6))(radial, maps)
    one = CartesianCine(kspace=cartesian.kspace[:1], mask=cartesian.mask[:1])
    p = get_method("p-inr")
    with pytest.raises(ValueError, match="'grasp' regularises over time"):
        p(p.make_config(refine_iterations=3, refine_with="grasp", steps=10**6))(one, maps)


# Tiny runs of each INR: what is refined is its own final image, with ALL the data (10% held out of the fit).
TINY = {
    "lr-inr": ("smoke", {}),
    "p-inr": ("smoke", {"steps": 4}),
    "kp-inr": ("smoke", {"steps": 4}),
    "da-inr": (None, {"steps": 4, "levels": 4, "base_resolution": 4, "log2_table_size": 10, "degree_xy": 4,
                      "degree_t": 2, "deform_width": 16, "deform_layers": 2, "canonical_width": 16,
                      "canonical_layers": 2}),
    "hash-inr": (None, {"steps": 4, "levels": 4, "base_resolution": 4, "log2_table_size": 10, "width": 16,
                        "layers": 2}),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_inr_refines_its_own_image_with_all_the_data(name, cartesian, radial, maps):
    cls = get_method(name)
    data = radial if "radial" in cls.trajectories and "cartesian" not in cls.trajectories else cartesian
    if name == "lr-inr":
        data = radial  # lr-inr takes both; the Cartesian INRs cover the other trajectory
    preset, options = TINY[name]
    options = {**options, "holdout": 0.1}
    alone = cls(cls.make_config(preset, **options))(data, maps)
    refine = {"refine_iterations": 3, "refine_pull": 0.05, "refine_with": "grasp"}
    out = cls(cls.make_config(preset, **options, **refine))(data, maps)
    assert torch.equal(out, refined(alone, data, maps, _cfg(**refine)))
    assert not torch.equal(out, alone)


def test_lr_inr_refined_preset_uses_the_regulariser_its_fit_does_not_hold():
    from inr_core.methods.inr.lr_inr import LrInr, resolved

    cfg = LrInr.make_config("refined")
    assert cfg.refine_iterations > 0 and LrInr.make_config().refine_iterations == 0  # off by default
    assert (resolved(cfg, "cartesian").refine_with, resolved(cfg, "radial").refine_with) == ("grasp", "llr")
    assert resolved(LrInr.make_config(refine_with="l-plus-s", refine_pull=2), "radial").refine_pull == 2.0


def test_an_unresolved_pull_is_an_error_not_a_silent_zero(cartesian, maps, truth):
    from inr_core.methods.inr.lr_inr import LrInr

    with pytest.raises(ValueError, match="refine_pull"):
        refined(_start(truth), cartesian, maps, LrInr.make_config(refine_iterations=2))
