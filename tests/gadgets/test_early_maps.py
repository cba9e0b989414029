"""Early coil maps (gadgets.early_maps): a Cartesian slice's maps start before its last readout, and
the images are exactly those of maps made at the end; a calibration that changes late is caught."""

import ismrmrd
import numpy as np
import pytest

from gadgets.cine_reconstruction import CineReconstruction
from gadgets.early_maps import EarlyCoilMaps
from gadgets.front_end import ACQUISITION_STAGES
from pipelines.commands.simulate import simulate_file
from pipelines.files.ismrmrd_io import open_raw

SETTINGS = {"method": "cg-sense", "device": "cpu", "calibration_width": "12"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # 64 lines, 8 frames: each frame's lines take two heartbeats, the calibration block (12 lines of
    # a 24-line window) is in before the slice's last heartbeat.
    return open_raw(simulate_file(tmp_path_factory.mktemp("early") / "stack.h5", realistic=True, slices=2, matrix=64,
                                  frames=8, coils=4, pattern="kt-uniform", acceleration=4))


def _run(raw, early: bool, monkeypatch=None, acquisitions=None):
    front = [cls({}, raw.header) for cls in ACQUISITION_STAGES]
    node = CineReconstruction(dict(SETTINGS), raw.header)
    if not early:
        monkeypatch.setattr(node.early, "after", lambda item: None)
    items = acquisitions if acquisitions is not None else list(raw.acquisitions())
    for stage in front:
        items = [o for i in items for o in stage.process(i)] + list(stage.flush())
    images = [o for i in items for o in node.process(i)] + list(node.flush())
    return node, images


@pytest.mark.timeout(120)
def test_early_maps_are_used_and_change_no_pixel(stack, monkeypatch):
    node, early = _run(stack, True)
    assert node.early.used == 2 and node.early.dropped == 0  # both slices' maps made before their end
    with monkeypatch.context() as m:
        _, late = _run(stack, False, m)
    assert len(early) == len(late) == 16
    for a, b in zip(early, late, strict=True):
        assert (a.slice, a.phase) == (b.slice, b.phase) and np.array_equal(a.data, b.data)


@pytest.mark.timeout(120)
def test_a_calibration_line_after_the_copy_drops_it(stack):
    """A late readout in the calibration block (here: slice 0's first calibration readout moved to
    the slice's end) makes the copy differ: the maps are made again from the complete slice."""
    acqs = list(stack.acquisitions())
    imaging0 = [i for i, a in enumerate(acqs) if not a.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
                and a.idx.slice == 0]
    centre = next(i for i in imaging0 if abs(acqs[i].idx.kspace_encode_step_1 - 32) <= 2)
    late = acqs.pop(centre)
    acqs.insert(imaging0[-1] - 1, late)  # just before the slice's last readout (its index moved up by one)
    node, images = _run(stack, True, acquisitions=acqs)
    assert node.early.dropped >= 1 and len(images) == 16


def test_radial_maps_wait_for_the_last_readout(tmp_path):
    raw = open_raw(simulate_file(tmp_path / "radial.h5", trajectory="radial", matrix=32, frames=2, coils=2,
                                 spokes=4))
    node = CineReconstruction(dict(SETTINGS), raw.header)
    assert isinstance(node.early, EarlyCoilMaps) and not node.early.enabled
