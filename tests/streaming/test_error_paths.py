"""Error paths that the real Gadgetron exposed (issue 13), reproduced without it: a parent that closes
mid-message (gadgetron-python 1.4.1 retries ``recv() == b""`` forever), a module that cannot be
imported by ``python -m gadgetron``, and Gadgetron's multi-line error text at the emulator."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from gadgetron.external.connection import Connection

from gadgets.base import Gadget, drain
from pipelines.cli import main
from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol

ROOT = Path(__file__).parents[2]
TINY = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"


@pytest.fixture(scope="module")
def raw():
    return open_raw(TINY)


def parent_and_child(raw):
    """A socket pair after Gadgetron's opening: configuration and header sent to the child side."""
    parent, child = socket.socketpair()
    parent.sendall(protocol.config_text(b"<configuration/>") + protocol.header(raw.header_xml))
    return parent, child


def half_an_acquisition(raw) -> bytes:
    data = protocol.item(next(raw.acquisitions()))
    return data[: len(data) // 2]


def run_bounded(target, timeout_s: float = 10.0):
    result = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"still reading {timeout_s:g} s after the parent closed"
    return result[0]


@pytest.mark.timeout(30)
def test_read_loop_ends_when_the_parent_closes_mid_message(raw):
    parent, child = parent_and_child(raw)
    connection = Connection(child)
    parent.sendall(half_an_acquisition(raw))
    parent.close()
    assert run_bounded(lambda: Gadget().handle(connection)) is False


@pytest.mark.timeout(30)
def test_drain_ends_at_end_of_stream(raw):
    parent, child = parent_and_child(raw)
    connection = Connection(child)
    parent.sendall(protocol.item(next(raw.acquisitions())) + half_an_acquisition(raw))
    parent.shutdown(socket.SHUT_WR)  # as after Gadgetron resets an upstream node: no more input
    run_bounded(lambda: drain(connection))
    parent.close()


@pytest.mark.timeout(60)
def test_module_that_cannot_be_imported_sends_an_error(raw):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    port = listener.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-m", "gadgetron", str(port), "gadgets.no_such_module", "Missing"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sock, _ = listener.accept()
        sock.settimeout(30)
        # The child reads its input up to our CLOSE before it answers (see gadgets.base.report_failure).
        sock.sendall(protocol.config_text(b"<configuration/>") + protocol.header(raw.header_xml)
                     + protocol.item(next(raw.acquisitions())) + protocol.close())
        reader = protocol.SocketReader(sock)
        message_id, text = protocol.read_message(reader)
        assert message_id == protocol.ERROR and "No module named 'gadgets.no_such_module'" in text
        assert protocol.read_message(reader)[0] == protocol.CLOSE
        sock.close()
        out, _ = child.communicate(timeout=20)
        assert out == b""  # Gadgetron shares its stdout with children: nothing may go there
    finally:
        listener.close()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


GADGETRON_TEXT = ("[Connection Main Thread/Stream/external] ERROR: Errors received: \n"
                  "FailAfter: forced failure after 20 items\n")


@pytest.mark.timeout(60)
def test_emulate_exits_2_with_gadgetron_multi_line_error(tmp_path, capsys):
    """Gadgetron sends its error only once the whole stream is in, over several lines."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def gadgetron():
        sock, _ = listener.accept()
        sock.settimeout(30)
        reader = protocol.SocketReader(sock)
        while protocol.read_message(reader)[0] != protocol.CLOSE:
            pass
        sock.sendall(protocol.text(GADGETRON_TEXT) + protocol.close())
        sock.close()

    thread = threading.Thread(target=gadgetron, daemon=True)
    thread.start()
    output = tmp_path / "out.h5"
    assert main(["emulate", str(TINY), "--port", str(port), "--timeout", "30", "-o", str(output)]) == 2
    thread.join(10)
    listener.close()
    lines = capsys.readouterr().err.strip().splitlines()[-3:]
    assert lines == [f"gadgetron-inr: error: server 127.0.0.1:{port} reported an error:",
                     "[Connection Main Thread/Stream/external] ERROR: Errors received:",
                     "FailAfter: forced failure after 20 items"]
    assert not output.exists()
