"""Emulator <-> loopback server over real loopback sockets (port 0), against the embedded host's
replay of the same file. Every wait is bounded (socket timeouts, joins, pytest-timeout)."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from io import BytesIO
from pathlib import Path

import ismrmrd
import numpy as np
import pytest

from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, stream
from pipelines.streaming.host import Pipeline
from pipelines.streaming.server import Server, resolve_config_name

ROOT = Path(__file__).parents[2]
RAW = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"
SETTINGS = {"method": "zero-filled", "device": "cpu"}


@pytest.fixture(scope="module")
def raw():
    return open_raw(RAW)


@pytest.fixture(scope="module")
def server():
    srv = Server("127.0.0.1", 0, timeout_s=20).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def replayed(raw):
    return list(Pipeline.load("cartesian", dict(SETTINGS)).run(raw.header, raw.acquisitions()))


def assert_same_images(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.slice, a.phase, a.image_series_index) == (b.slice, b.phase, b.image_series_index)
        scale = np.abs(b.data).max()
        assert np.abs(a.data - b.data).max() <= 1e-5 * scale
        assert a.attribute_string == b.attribute_string


@pytest.mark.timeout(60)
def test_emulator_through_server_equals_replay(server, raw, replayed):
    session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port, timeout_s=30)
    assert session.errors == [] and session.closed
    assert_same_images(session.images, replayed)


@pytest.mark.timeout(90)
def test_three_clients_at_once(server, raw, replayed):
    results = [None] * 3
    config = protocol.config_text(chain_text(raw.trajectory, SETTINGS))

    def client(i):
        results[i] = stream(raw, config, port=server.port, timeout_s=60)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=80)
    for session in results:
        assert session is not None and session.errors == [] and session.closed
        assert_same_images(session.images, replayed)


@pytest.mark.timeout(30)
def test_config_names_are_whitelisted(server, raw):
    assert resolve_config_name("cartesian.xml").name == "cartesian.xml"
    for name in ("../../etc/passwd", "/etc/passwd", "nonexistent", "configs/cartesian.xml"):
        session = stream(raw, protocol.config_file(name), port=server.port, timeout_s=10)
        assert session.closed and session.images == []
        assert session.errors[0].startswith(f"unknown configuration {name!r}")
    # Text naming a module outside the gadgets package is refused before anything is imported.
    bad = b"<configuration><stream><external><execute name='os' target='system' type='python'/></external></stream>" \
          b"</configuration>"
    session = stream(raw, protocol.config_text(bad), port=server.port, timeout_s=10)
    assert "not inside the 'gadgets' package" in session.errors[0]


def failing_chain(tmp_path, raw, after=20):
    text = chain_text(raw.trajectory, SETTINGS).decode()
    fault = (f'<external><execute name="gadgets.fault" target="FailAfter" type="python"/><configuration>'
             f'<property name="fail_after" value="{after}"/></configuration></external>')
    path = tmp_path / "failing.xml"
    path.write_text(text.replace("<stream>", "<stream>" + fault, 1))
    return path


@pytest.mark.timeout(60)
def test_gadget_failure_mid_scan_is_one_line_and_server_keeps_serving(server, raw, replayed, tmp_path):
    config = failing_chain(tmp_path, raw)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "emulate", str(RAW), "--port", str(server.port),
                           "--config-file", str(config), "--timeout", "20", "-o", str(tmp_path / "out.h5")],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert done.returncode != 0 and elapsed < 10
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        f"gadgetron-inr: error: server 127.0.0.1:{server.port}: FailAfter: forced failure after 20 items")
    assert not (tmp_path / "out.h5").exists()
    session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port, timeout_s=30)
    assert_same_images(session.images, replayed)


@pytest.mark.timeout(60)
def test_client_disconnecting_mid_scan(server, raw, replayed):
    acqs = list(raw.acquisitions())
    for cut in (0, len(acqs) // 2):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(protocol.config_text(chain_text(raw.trajectory, SETTINGS)) + protocol.header(raw.header_xml)
                         + b"".join(protocol.item(a) for a in acqs[:cut]) + b"\x08")  # half a message id
    session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port, timeout_s=30)
    assert_same_images(session.images, replayed)
    deadline = time.monotonic() + 10
    while sum(t.is_alive() for t in server.threads) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(t.is_alive() for t in server.threads) == 1  # only the accept loop is left


# -- byte level ---------------------------------------------------------------------------------
def test_stream_bytes_match_ismrmrd_python(raw, replayed):
    """Our acquisition and image framing equals ismrmrd-python's ProtocolSerializer; the header is
    the file's own XML (ProtocolSerializer re-serialises it with toXML(), which changes the bytes)."""
    ours = protocol.header(raw.header_xml) + b"".join(protocol.item(a) for a in raw.acquisitions()) + protocol.close()
    buffer = BytesIO()
    serializer = ismrmrd.serialization.ProtocolSerializer(buffer)
    for acq in raw.acquisitions():
        serializer.serialize(acq)
    serializer.close()
    header_len = 6 + len(raw.header_xml)
    assert ours[:header_len] == struct.pack("<HI", 3, len(raw.header_xml)) + raw.header_xml
    assert ours[header_len:] == buffer.getvalue()
    images = b"".join(protocol.item(i) for i in replayed) + protocol.close()
    back = list(ismrmrd.serialization.ProtocolDeserializer(BytesIO(images)).deserialize())
    assert [b.phase for b in back] == [i.phase for i in replayed]
    assert all(np.array_equal(b.data, i.data) for b, i in zip(back, replayed, strict=True))


def stream_tool() -> tuple[str | None, dict]:
    """``ismrmrd_hdf5_to_stream`` on the PATH, or in the ISMRMRD 1.14.1 that build-gadgetron installs
    with Gadgetron (its prefix: ``GADGETRON_PREFIX``, else what the script prints)."""
    found = shutil.which("ismrmrd_hdf5_to_stream")
    if found:
        return found, {}
    script = ROOT.parent / "shared" / "tools" / "build-gadgetron"
    prefix = os.environ.get("GADGETRON_PREFIX")
    if not prefix and script.is_file():
        prefix = subprocess.run(["bash", str(script), "--prefix"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
    tool = Path(prefix or "/nonexistent") / "bin" / "ismrmrd_hdf5_to_stream"
    if not tool.is_file():
        return None, {}
    return str(tool), {**os.environ, "LD_LIBRARY_PATH": str(tool.parents[1] / "lib")}


STREAM_TOOL, STREAM_TOOL_ENV = stream_tool()


@pytest.mark.skipif(STREAM_TOOL is None, reason="ismrmrd_hdf5_to_stream not installed (Debian's ismrmrd-tools 1.8 "
                    "ships no stream tools; ../shared/tools/build-gadgetron installs them)")
@pytest.mark.timeout(60)
def test_stream_bytes_match_ismrmrd_hdf5_to_stream(raw):
    """Acquisitions and CLOSE byte for byte. The tool parses the header and writes it again with the
    C++ serializer, so its header bytes differ from the file's text (which gadgetron_ismrmrd_client
    and the emulator send); compare the header as parsed."""
    done = subprocess.run([STREAM_TOOL, "-i", str(RAW), "--use-stdout"], capture_output=True, timeout=60,
                          env=STREAM_TOOL_ENV or None)
    tool = done.stdout
    assert struct.unpack("<H", tool[:2])[0] == protocol.HEADER
    (length,) = struct.unpack("<I", tool[2:6])
    theirs, mine = ismrmrd.xsd.CreateFromDocument(tool[6:6 + length]), ismrmrd.xsd.CreateFromDocument(raw.header_xml)
    # The C++ serializer writes doubles with 9 significant digits (noise_std 0.02311534434556961 ->
    # 0.0231153443): what Gadgetron's children see too. Equal to that precision, the rest exactly.
    for a, b in zip(theirs.userParameters.userParameterDouble, mine.userParameters.userParameterDouble, strict=True):
        assert a.name == b.name and a.value == pytest.approx(b.value, rel=1e-8)
        a.value = b.value
    assert theirs == mine
    ours = b"".join(protocol.item(a) for a in raw.acquisitions()) + protocol.close()
    assert tool[6 + length:] == ours
