"""Gadgets as Gadgetron starts them: ``python -m gadgetron PORT MODULE TARGET`` dialling a parent.

The test plays Gadgetron's part: listen, start the child, send CONFIG, HEADER, acquisitions and
CLOSE, read what comes back. Nothing may appear on the child's stdout.
"""

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import ismrmrd
import numpy as np
import pytest
from gadget_helpers import cartesian_cine, disc_cine, make_header, smooth_maps

ROOT = Path(__file__).parents[2]


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def run_external(module, target, header, acqs, config="<configuration/>"):
    """Returns (messages [(id, item)], child stdout)."""
    server = socket.create_server(("localhost", 0))
    port = server.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GADGETRON_EXTERNAL_LOG_LEVEL": "WARNING"}
    child = subprocess.Popen([sys.executable, "-m", "gadgetron", str(port), module, target], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        server.settimeout(60)
        conn, _ = server.accept()
        conn.settimeout(120)
        xml = ismrmrd.xsd.ToXML(header).encode()
        out = struct.pack("<HI", 2, len(config)) + config.encode() + struct.pack("<HI", 3, len(xml)) + xml
        conn.sendall(out + b"".join(struct.pack("<H", 1008) + a.to_bytes() for a in acqs) + struct.pack("<H", 4))
        messages = []
        while True:
            (mid,) = struct.unpack("<H", read_exactly(conn, 2))
            if mid == 4:
                break
            if mid == 8:
                (length,) = struct.unpack("<Q", read_exactly(conn, 8))
                messages.append((8, read_exactly(conn, length).decode()))
            elif mid == 1022:
                messages.append((1022, ismrmrd.Image.deserialize_from(lambda n: read_exactly(conn, n))))
            elif mid == 1008:
                messages.append((1008, ismrmrd.Acquisition.deserialize_from(lambda n: read_exactly(conn, n))))
            else:
                raise AssertionError(f"unexpected message id {mid}")
        conn.close()
        stdout, stderr = child.communicate(timeout=60)
        return messages, stdout, stderr
    finally:
        if child.poll() is None:
            child.kill()
        server.close()


@pytest.mark.timeout(180)
def test_cine_node_as_a_gadgetron_child_process():
    frames, coils, n = 3, 2, 16
    acqs = cartesian_cine(disc_cine(frames, n, n), smooth_maps(coils, n, n), np.ones((frames, n), bool))
    config = ('<configuration><property name="method" value="zero-filled"/>'
              '<property name="device" value="cpu"/><property name="calibration_width" value="16"/></configuration>')
    messages, stdout, _ = run_external("gadgets.cine_reconstruction", "CineReconstruction",
                                       make_header(nx=n, ny=n, channels=coils, phases=frames), acqs, config)
    assert stdout == b""
    assert [mid for mid, _ in messages] == [1022] * frames
    assert [image.phase for _, image in messages] == list(range(frames))


@pytest.mark.timeout(180)
def test_child_process_reports_a_clear_error():
    acqs = [cartesian_cine(disc_cine(1, 8, 8), smooth_maps(2, 8, 8), np.ones((1, 8), bool))[0]]
    messages, stdout, _ = run_external("gadgets.cine_reconstruction", "CineReconstruction",
                                       make_header(nx=8, ny=8, channels=2, trajectory="spiral"), acqs)
    assert stdout == b""
    assert messages == [(8, "CineReconstruction: unsupported trajectory 'spiral' "
                            "(supported: cartesian, radial, goldenangle)")]
