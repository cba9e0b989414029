"""The embedded host's out-of-process mode: each node a ``python -m gadgetron`` child, as under
Gadgetron. Same images as in-process; a failing node's ERROR text becomes the one-line error."""

from pathlib import Path

import numpy as np
import pytest

from gadgets.base import GadgetError
from pipelines.host import Node, Pipeline
from pipelines.ismrmrd_io import open_raw

RAW = Path(__file__).parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"


@pytest.mark.timeout(120)
def test_child_processes_give_the_in_process_images():
    raw = open_raw(RAW)
    pipeline = Pipeline.load("cartesian", {"method": "zero-filled", "device": "cpu"})
    inside = list(pipeline.run(raw.header, raw.acquisitions()))
    outside = list(pipeline.run(raw.header, raw.acquisitions(), external=True))
    assert len(outside) == len(inside) == 6
    for a, b in zip(outside, inside, strict=True):
        assert a.phase == b.phase and np.array_equal(a.data, b.data)


@pytest.mark.timeout(120)
def test_a_failing_child_is_one_clear_error():
    raw = open_raw(RAW)
    pipeline = Pipeline([Node("gadgets.fault", "FailAfter", {"fail_after": "10"}),
                         Node("gadgets.oversampling", "RemoveReadoutOversampling")])
    with pytest.raises(GadgetError) as caught:
        list(pipeline.run(raw.header, raw.acquisitions(), external=True))
    assert str(caught.value) == "FailAfter: forced failure after 10 items"
