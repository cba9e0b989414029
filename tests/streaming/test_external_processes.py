"""The embedded host's out-of-process mode: each node a ``python -m gadgetron`` child, as under
Gadgetron. Same images as in-process; a failing node's ERROR text becomes the one-line error."""

from pathlib import Path

import numpy as np
import pytest

from gadgets.base import GadgetError
from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming.host import Node, Pipeline

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


@pytest.mark.timeout(120)
def test_loopback_server_with_child_processes():
    from pipelines.streaming import protocol
    from pipelines.streaming.emulator import chain_text, stream
    from pipelines.streaming.server import Server

    raw = open_raw(RAW)
    expected = list(Pipeline.load("cartesian", {"method": "zero-filled", "device": "cpu"}).run(
        raw.header, raw.acquisitions()))
    server = Server("127.0.0.1", 0, timeout_s=60, external=True).start()
    try:
        config = protocol.config_text(chain_text(raw.trajectory, {"method": "zero-filled", "device": "cpu"}))
        session = stream(raw, config, port=server.port, timeout_s=90)
    finally:
        server.stop()
    assert session.errors == [] and len(session.images) == len(expected)
    for a, b in zip(session.images, expected, strict=True):
        assert np.array_equal(a.data, b.data)
