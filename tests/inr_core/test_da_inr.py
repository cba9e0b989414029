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
