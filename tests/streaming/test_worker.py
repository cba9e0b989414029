"""The connect-mode worker, with the test playing Gadgetron: dial, CONFIG, HEADER, acquisitions,
CLOSE; read images, ERROR and CLOSE. One scan after another in the same (warm) process."""

import socket
import struct
import threading
from pathlib import Path

import ismrmrd
import numpy as np
import pytest

from gadgets.base import properties_from_config
from gadgets.cine_reconstruction import CineReconstruction
from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.worker import Worker, load_target

ROOT = Path(__file__).parents[2]
RAW = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"
CONFIG = ('<configuration><property name="method" value="zero-filled"/><property name="device" value="cpu"/>'
          '<property name="calibration_width" value="16"/></configuration>')


def as_gadgetron(port, header_xml, acqs, cut=None):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.settimeout(30)
        data = (struct.pack("<HI", 2, len(CONFIG)) + CONFIG.encode() + struct.pack("<HI", 3, len(header_xml))
                + header_xml + b"".join(protocol.item(a) for a in acqs))
        if cut is not None:
            sock.sendall(data[:cut])
            return None
        sock.sendall(data + protocol.close())
        reader, replies = protocol.SocketReader(sock), []
        while True:
            message_id, payload = protocol.read_message(reader)
            if message_id == protocol.CLOSE:
                return replies
            replies.append((message_id, payload))


@pytest.mark.timeout(90)
def test_worker_serves_scan_after_scan():
    raw = open_raw(RAW)
    acqs = list(raw.acquisitions())
    props = properties_from_config(CONFIG)
    expected = list(CineReconstruction(props, raw.header).stream(acqs))
    worker = Worker(load_target("gadgets.cine_reconstruction:CineReconstruction"), port=0, timeout_s=5)
    thread = threading.Thread(target=worker.serve_forever, daemon=True)
    thread.start()
    try:
        first = as_gadgetron(worker.port, raw.header_xml, acqs)
        as_gadgetron(worker.port, raw.header_xml, acqs, cut=3000)  # Gadgetron dies mid-scan
        spiral = ismrmrd.xsd.ToXML(raw.header).replace("<trajectory>cartesian", "<trajectory>spiral").encode()
        failed = as_gadgetron(worker.port, spiral, acqs[:5])
        again = as_gadgetron(worker.port, raw.header_xml, acqs)
    finally:
        worker.stopping.set()
        thread.join(timeout=10)
    assert failed == [(protocol.ERROR, "CineReconstruction: unsupported trajectory 'spiral' "
                                       "(supported: cartesian, radial, goldenangle)")]
    for replies in (first, again):
        assert [m for m, _ in replies] == [protocol.IMAGE] * len(expected)
        for (_, got), want in zip(replies, expected, strict=True):
            assert np.array_equal(got.data, want.data) and got.phase == want.phase
    assert (worker.scans, worker.failures) == (4, 2)


class _Counted:
    """A zero-filled stand-in that counts how often it is built (a trained method loads its weights there)."""

    built = 0


def _counted_method():
    from dataclasses import dataclass

    from inr_core.methods import base, get_method

    if "test-counted" not in base._REGISTRY:
        @dataclass
        class CountedConfig:
            pass

        class Counted(base.Method):
            """Zero-filled, counting its builds (test stand-in)."""

            name, Config, trajectories = "test-counted", CountedConfig, ("cartesian",)

            def __init__(self, config=None, device="cpu"):
                super().__init__(config, device)
                _Counted.built += 1

            def reconstruct(self, data, maps, progress):
                return get_method("zero-filled")()(data, maps, progress)


@pytest.mark.timeout(90)
def test_worker_builds_the_method_once_for_scan_after_scan():
    _counted_method()
    raw = open_raw(RAW)
    acqs = list(raw.acquisitions())
    worker = Worker(load_target("gadgets.cine_reconstruction:CineReconstruction"), port=0, timeout_s=5,
                    overrides={"method": "test-counted"})
    thread = threading.Thread(target=worker.serve_forever, daemon=True)
    thread.start()
    before = _Counted.built
    try:
        replies = [as_gadgetron(worker.port, raw.header_xml, acqs) for _ in range(2)]
    finally:
        worker.stopping.set()
        thread.join(timeout=10)
    assert all(r and {m for m, _ in r} == {protocol.IMAGE} for r in replies)
    assert _Counted.built - before == 1
