"""Waveforms stored with the raw data go out merged with the acquisitions by time stamp, and the
loopback server accepts (and drops) them; a Gadgetron node passes them on unless its configuration
says ``waveforms=drop``, as the packaged chains' first node does."""

import contextlib
import shutil
import socket
from pathlib import Path
from xml.etree import ElementTree

import ismrmrd
import numpy as np
import pytest

from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, read_waveforms, stream, timeline
from pipelines.streaming.server import Server

RAW = Path(__file__).parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"


@pytest.mark.timeout(60)
def test_waveforms_interleaved_by_time_stamp(tmp_path):
    path = tmp_path / "with_waveforms.h5"
    shutil.copy(RAW, path)
    first = open_raw(path)
    stamps = [a.acquisition_time_stamp for a in first.acquisitions()]
    wave_stamps = [stamps[0] - 5, stamps[10], stamps[-1] + 5]  # before, tied with a readout, after
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False) as dataset:
        for stamp in wave_stamps:
            wav = ismrmrd.Waveform.from_array(np.arange(8, dtype=np.uint32).reshape(1, 8))
            wav.time_stamp = stamp
            dataset.append_waveform(wav)
    raw = open_raw(path)
    waveforms = read_waveforms(raw.path, raw.group)
    assert [w.time_stamp for w in waveforms] == wave_stamps
    sent = list(timeline(raw, waveforms))
    assert [s for s, _ in sent] == sorted(s for s, _ in sent)
    kinds = [type(obj).__name__ for _, obj in sent]
    assert kinds[0] == kinds[-1] == "Waveform" and kinds.count("Waveform") == 3
    tied = next(i for i, (s, _) in enumerate(sent) if s == stamps[10])
    assert kinds[tied] == "Waveform"  # on a tie the waveform goes first, like ismrmrd_hdf5_to_stream

    server = Server("127.0.0.1", 0, timeout_s=20).start()
    try:
        config = protocol.config_text(chain_text(raw.trajectory, {"method": "zero-filled", "device": "cpu"}))
        session = stream(raw, config, port=server.port, timeout_s=30, waveforms=waveforms)
    finally:
        server.stop()
    assert session.errors == [] and len(session.images) == 6


def _through_handle(properties: dict, items) -> list:
    """``Gadget().handle`` as a Gadgetron child with ``properties`` in its configuration: what it
    sends back for ``items``."""
    from gadgetron.external.connection import Connection

    from gadgets.base import Gadget
    from pipelines.streaming.external import config_xml

    raw = open_raw(RAW)
    parent, child = socket.socketpair()
    parent.settimeout(20)
    parent.sendall(protocol.config_text(config_xml(properties)) + protocol.header(raw.header_xml)
                   + b"".join(protocol.item(i) for i in items) + protocol.close())
    assert Gadget().handle(Connection(child)) is True
    child.close()
    reader, back = protocol.SocketReader(parent), []
    with contextlib.suppress(EOFError):
        while True:
            back.append(protocol.read_message(reader)[1])
    return back


@pytest.mark.timeout(30)
def test_waveforms_pass_by_default_and_end_where_a_node_drops_them(caplog):
    acquisition = next(open_raw(RAW).acquisitions())
    wav = ismrmrd.Waveform.from_array(np.arange(8, dtype=np.uint32).reshape(1, 8))
    assert [type(x) for x in _through_handle({}, [wav, acquisition])] == [ismrmrd.Waveform, ismrmrd.Acquisition]
    with caplog.at_level("INFO", logger="gadgets.base"):
        assert [type(x) for x in _through_handle({"waveforms": "drop"}, [wav, acquisition, wav])] == \
            [ismrmrd.Acquisition]
    assert "dropped 2 waveforms" in caplog.text


def test_packaged_chains_drop_waveforms_at_their_first_node():
    from pipelines.streaming.host import CONFIG_DIR

    for path in CONFIG_DIR.glob("*.xml"):
        nodes = ElementTree.parse(path).getroot().find("stream")
        found = [n.find("configuration/property[@name='waveforms']") for n in nodes]
        assert found[0] is not None and found[0].get("value") == "drop", path.name
        assert all(f is None for f in found[1:]), path.name
