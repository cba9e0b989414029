"""DA-INR end to end on a tiny moving phantom: beats zero-filled, refuses what it cannot do, interpolates."""

from __future__ import annotations

import pytest
import torch

from inr_core.methods import get_method
from inr_core.methods.inr.radial_loss import axis_coordinates, frame_times, output_matrix
from inr_core.metrics import score

# A tiny DA-INR: the paper's structure at a size that fits in a few seconds on a shared CPU.
TINY = {"steps": 150, "levels": 6, "base_resolution": 4, "growth": 1.5, "log2_table_size": 12,
        "degree_xy": 6, "degree_t": 3, "deform_width": 32, "deform_layers": 3, "canonical_width": 32,
        "canonical_layers": 2, "feature_channels": 8, "lr": 1e-2, "progress_every": 50}


def tiny(**over):
    cls = get_method("da-inr")
    return cls(cls.make_config(**{**TINY, **over}))


@pytest.mark.parametrize("features", ["none", "random-mdsr"])
def test_beats_zero_filled_on_a_moving_phantom(features, radial, maps, truth):
    calls = []
    images = tiny(features=features)(radial, maps, lambda d, t, m: calls.append((d, t)))
    assert images.shape == truth.shape and images.dtype == torch.complex64 and torch.isfinite(images).all()
    assert calls[-1] == (TINY["steps"], TINY["steps"])
    zf = get_method("zero-filled")()(radial, maps)
    psnr = score(images, truth, "da-inr")["summary"]["psnr_mean"]
    psnr_zf = score(zf, truth, "da-inr")["summary"]["psnr_mean"]
    assert psnr > psnr_zf + 2.0, (psnr, psnr_zf)
    # On the data's intensity scale (zero-filled's), not the fit's normalised one.
    ratio = float(images.abs().amax() / truth.abs().amax())
    assert 0.7 < ratio < 1.3, ratio


def test_reproducible_with_a_seed(radial, maps):
    a = tiny(steps=20)(radial, maps)
    b = tiny(steps=20)(radial, maps)
    c = tiny(steps=20, seed=1)(radial, maps)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_refuses_cartesian_and_single_frames(cartesian, radial, maps):
    method = tiny(steps=1)
    with pytest.raises(ValueError, match="does not support cartesian data"):
        method(cartesian, maps)
    one = type(radial)(kspace=radial.kspace[:1], trajectory_k=radial.trajectory_k[:1], image_shape=radial.image_shape)
    with pytest.raises(ValueError, match="needs at least 2 frames"):
        method(one, maps)
    with pytest.raises(ValueError, match="unknown features"):
        tiny(features="mdsr-pretrained")(radial, maps)


@pytest.mark.parametrize(("scale", "frames"), [(1.5, 0), (1.0, 12), (2.0, 9)])
def test_out_scale_and_out_frames_shapes(scale, frames, radial, maps):
    method = tiny(steps=2, out_scale=scale, out_frames=frames)
    expected = (frames or radial.frames, *output_matrix(radial.image_shape, scale))
    assert method.output_shape(radial) == expected
    images = method(radial, maps)
    assert tuple(images.shape) == expected and torch.isfinite(images).all()


def test_interpolation_queries_the_same_object(radial, maps, truth):
    # Every second output phase of a x2 temporal interpolation is an acquired frame: same images.
    # A x2 spatial output's even pixels sit on the acquired pixel centres: same values there.
    base = tiny(steps=40)(radial, maps)
    twice = tiny(steps=40, out_frames=2 * radial.frames)(radial, maps)
    torch.testing.assert_close(twice[::2], base, atol=1e-5, rtol=1e-4)
    fine = tiny(steps=40, out_scale=2.0)(radial, maps)
    torch.testing.assert_close(fine[:, ::2, ::2], base, atol=1e-5, rtol=1e-4)


def test_coordinates_share_the_field_of_view():
    assert torch.equal(axis_coordinates(4), torch.tensor([-1.0, -0.5, 0.0, 0.5]))
    assert torch.equal(axis_coordinates(8)[::2], axis_coordinates(4))
    assert torch.allclose(frame_times(6, 3)[::2], frame_times(3, 3))
    assert output_matrix((128, 128), 1.2) == (154, 154)


# The warm start (issue 19 item 4) at the tiny size: a short GRASP, a short canonical pre-fit.
WARM = {"warm_start": "grasp", "warm_iterations": 5, "holdout": 0.1, "init_steps": 100, "validate_every": 5}


def test_warm_step_zero_is_the_classical_image(radial, maps):
    # With the residual, step 0 is the classical series of the fitted spokes, inside the maps' support.
    from inr_core.methods.inr.holdout import split
    from inr_core.methods.inr.radial_loss import RadialProblem

    images = tiny(steps=0, residual=True, **WARM)(radial, maps)
    fit_data, _ = split(radial, WARM["holdout"], 0)
    grasp = get_method("grasp")
    warm = grasp(grasp.make_config(iterations=WARM["warm_iterations"]))(fit_data, maps)
    support = RadialProblem.from_data(fit_data, maps).support()
    # float32 arithmetic of (warm / s - canonical) + canonical, times s: a few ulps of the image's maximum
    torch.testing.assert_close(images, warm * support, atol=1e-5 * float(warm.abs().max()), rtol=0)


def test_warm_canonical_image_fits_the_classical_mean(radial, maps):
    # Without the residual, step 0 is the canonical network fitted to the classical series' temporal mean. Its
    # finest level has a vertex per pixel, so the fit can reach the mean: after 100 Adam steps the error inside the
    # support is a small fraction of the mean's own energy there (here < 1%: the bound, not the figure reached).
    from inr_core.methods.inr.da_inr import DaInrNet, fit_canonical
    from inr_core.methods.inr.fit import seeded
    from inr_core.methods.inr.radial_loss import RadialProblem, grid_coordinates

    method = tiny(steps=0, **WARM)
    problem = RadialProblem.from_data(radial, maps)
    mean = method._warm_start(radial, maps, problem, lambda *a: None).mean(0)
    support = problem.support()
    energy = float((mean.abs() ** 2 * support).sum() / support.sum())
    with seeded(0, torch.device("cpu")):
        net = DaInrNet(method.config, 0, radial.image_shape[0])
        xy = grid_coordinates(radial.image_shape)
        with torch.no_grad():
            before = float(((net.canonical_image(xy).view(mean.shape) - mean).abs() ** 2 * support).sum()
                           / support.sum())
        after = fit_canonical(net, xy, mean, support, 100, 1e-2)
    assert after < 0.01 * energy < before, (after, energy, before)
    # And the method's own step 0 is that canonical image in every frame (identity deformation).
    images = method(radial, maps)
    torch.testing.assert_close(images[1:], images[:1].expand_as(images[1:]))


@pytest.mark.parametrize("preset", ["warm", "warm-refined"])
def test_warm_preset_runs_end_to_end_and_keeps_its_start_or_better(preset, radial, maps, truth):
    # The preset's own options at the tiny network size: the held-out stopping keeps step 0 (the classical image)
    # unless a later step predicts the held-out spokes better; `warm-refined` adds the classical refinement.
    cls = get_method("da-inr")
    cfg = cls.make_config(preset, **{k: v for k, v in TINY.items() if k not in ("steps", "lr")},
                          steps=20, warm_iterations=5, init_steps=50, image_steps=20, validate_every=5)
    method = cls(cfg)
    seen = []
    method.trace = seen.append
    images = method(radial, maps)
    assert images.shape == truth.shape and torch.isfinite(images).all()
    assert len(seen) == 1 + 20 // 5  # step 0 and every validate_every steps (no patience stop this early)
    assert cfg.warm_start == "grasp" and cfg.residual and cfg.holdout > 0
    # one of the scored series is returned (float32: the same sums in another order), or its refinement
    distance = min(float((images - s).abs().max()) for s in seen) / float(images.abs().max())
    if preset == "warm":
        assert distance <= 1e-5
    else:
        assert cfg.refine_iterations == 20 and distance > 1e-5


def test_warm_options_are_checked(radial, maps):
    with pytest.raises(ValueError, match="unknown method 'grsap'"):
        tiny(steps=1, warm_start="grsap")(radial, maps)
    with pytest.raises(ValueError, match="does not reconstruct radial"):
        tiny(steps=1, warm_start="kt-grappa")(radial, maps)
    with pytest.raises(ValueError, match="residual needs a warm_start"):
        tiny(steps=1, residual=True)(radial, maps)
    with pytest.raises(ValueError, match="needs out_scale=1 and out_frames=0"):
        tiny(steps=1, residual=True, out_frames=12, **WARM)(radial, maps)
    with pytest.raises(ValueError, match="needs features=none"):
        tiny(steps=1, features="random-mdsr", **WARM)(radial, maps)
    with pytest.raises(ValueError, match="residual_decay must be in"):
        tiny(steps=1, residual=True, residual_decay=1.0, **WARM)(radial, maps)
    with pytest.raises(ValueError, match="start_levels must be in"):
        tiny(steps=1, start_levels=7)(radial, maps)
    with pytest.raises(ValueError):  # a misspelt key is one clear error
        tiny(warm_strat="grasp")


def test_coarse_to_fine_levels_join_over_the_steps(radial, maps):
    from inr_core.nn.radial_image import DaInrNet

    seen = []
    original = DaInrNet.forward

    def spy(self, rows):
        seen.append(self.active_levels)
        return original(self, rows)

    DaInrNet.forward = spy
    try:
        tiny(steps=8, start_levels=2, unmask_fraction=0.5)(radial, maps)
    finally:
        DaInrNet.forward = original
    fitted = seen[:8]
    assert fitted[0] == 2 and fitted[4:] == [6, 6, 6, 6] and fitted == sorted(fitted)
    assert seen[-1] is None  # the output uses every level
