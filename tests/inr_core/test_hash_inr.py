"""HashINR end to end on a tiny moving phantom, its regularisers and its output options."""

from __future__ import annotations

import pytest
import torch

from inr_core.methods import get_method
from inr_core.metrics import score

TINY = {"steps": 150, "levels": 6, "base_resolution": 4, "growth": 1.6, "log2_table_size": 12, "width": 32,
        "layers": 2, "start_levels": 2, "lr": 1e-2, "progress_every": 50}


def tiny(**over):
    cls = get_method("hash-inr")
    return cls(cls.make_config(**{**TINY, **over}))


def test_beats_zero_filled_on_a_moving_phantom(radial, maps, truth):
    images = tiny()(radial, maps)
    assert images.shape == truth.shape and images.dtype == torch.complex64 and torch.isfinite(images).all()
    psnr = score(images, truth, "da-inr")["summary"]["psnr_mean"]
    psnr_zf = score(get_method("zero-filled")()(radial, maps), truth, "da-inr")["summary"]["psnr_mean"]
    assert psnr > psnr_zf + 1.0, (psnr, psnr_zf)


def test_regularisers_run_and_change_the_fit(radial, maps):
    plain = tiny(steps=20, frames_per_step=2)(radial, maps)
    regularised = tiny(steps=20, frames_per_step=2, tv_weight=0.5, lowrank_weight=0.5)(radial, maps)
    assert torch.isfinite(regularised).all() and not torch.equal(plain, regularised)
    with pytest.raises(ValueError, match="frames_per_step >= 2"):
        tiny(tv_weight=0.1)(radial, maps)


def test_refuses_cartesian_and_interpolates(cartesian, radial, maps):
    with pytest.raises(ValueError, match="does not support cartesian data"):
        tiny(steps=1)(cartesian, maps)
    method = tiny(steps=2, out_scale=1.5, out_frames=9)
    assert method.output_shape(radial) == (9, 48, 48)
    assert method(radial, maps).shape == (9, 48, 48)
