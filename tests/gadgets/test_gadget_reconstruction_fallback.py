"""A method that fails, runs out of memory or passes its time budget: the scan still gets images,
from the fallback method, and they say so."""

import time
from dataclasses import dataclass

import ismrmrd
import numpy as np
import pytest
import torch
from gadget_helpers import cartesian_cine, disc_cine, make_header, smooth_maps

from gadgets.cine_reconstruction import CineReconstruction
from inr_core.methods import base

T, C, N = 4, 4, 32


@dataclass
class _Config:
    pass


class _Raises(base.Method):
    """Fails inside (test stand-in)."""

    name, Config, trajectories = "test-raises", _Config, ("cartesian",)

    def reconstruct(self, data, maps, progress):
        raise RuntimeError("boom at iteration 3")


class _OutOfMemory(base.Method):
    """Runs out of memory (test stand-in)."""

    name, Config, trajectories = "test-out-of-memory", _Config, ("cartesian",)

    def reconstruct(self, data, maps, progress):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


class _Slow(base.Method):
    """Iterates for ever, reporting progress (test stand-in)."""

    name, Config, trajectories = "test-slow", _Config, ("cartesian",)

    def reconstruct(self, data, maps, progress):
        for it in range(10**6):
            progress(it, 10**6, "slow")
            time.sleep(0.01)


def run(method, **props):
    acqs = cartesian_cine(disc_cine(T, N, N), smooth_maps(C, N, N), np.ones((T, N), bool))
    node = CineReconstruction({"method": method, "device": "cpu", "calibration_width": "16",
                               "fallback": "zero-filled", **props}, make_header(nx=N, ny=N, channels=C, phases=T))
    return list(node.stream(acqs))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method, reason", [("test-raises", "RuntimeError: boom at iteration 3"),
                                            ("test-out-of-memory", "out of memory")])
def test_a_failing_method_falls_back_and_the_images_say_so(method, reason):
    images = run(method)
    assert len(images) == T and all(np.isfinite(im.data).all() and im.data.max() > 0 for im in images)
    meta = ismrmrd.Meta.deserialize(images[0].attribute_string)
    assert meta["GADGETRON_Method"] == "zero-filled"
    assert meta["GADGETRON_SeqDescription"] == "_INR_zero-filled_FALLBACK"
    assert f"(fallback: {method} failed: {reason})" in meta["GADGETRON_ImageComment"][1]


@pytest.mark.timeout(60)
def test_a_method_past_its_time_budget_falls_back():
    start = time.monotonic()
    images = run("test-slow", time_budget_s="0.5")
    assert time.monotonic() - start < 20 and len(images) == T
    comment = ismrmrd.Meta.deserialize(images[0].attribute_string)["GADGETRON_ImageComment"][1]
    assert "test-slow failed: passed its time budget of 0.5 s" in comment


@pytest.mark.timeout(60)
def test_without_a_fallback_the_failure_is_the_scans_error():
    with pytest.raises(RuntimeError, match="boom"):
        run("test-raises", fallback="none")


@pytest.mark.timeout(60)
def test_a_method_that_works_is_not_marked():
    meta = ismrmrd.Meta.deserialize(run("zero-filled", time_budget_s="30")[0].attribute_string)
    assert meta["GADGETRON_SeqDescription"] == "_INR_zero-filled"
    assert "fallback" not in meta["GADGETRON_ImageComment"][1]
