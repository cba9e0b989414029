"""Seeded mutations of a whole wire stream (config, header, acquisitions, close) sent to the loopback
server: every one is answered or dropped within its bound, and the server then serves a normal scan
equal to ``replay``. ``GADGETRON_INR_FUZZ=N`` runs N cases instead of the CI count."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.host import Pipeline
from pipelines.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, stream
from pipelines.streaming.server import Server

RAW = Path(__file__).parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"
SETTINGS = {"method": "zero-filled", "device": "cpu"}
CASES = int(os.environ.get("GADGETRON_INR_FUZZ", "16"))
BOUND_S = 30.0  # a mutated scan must be answered or dropped within this


def _flip(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for i in rng.integers(0, len(out), int(rng.integers(1, 16))):
        out[i] ^= int(rng.integers(1, 256))
    return bytes(out)


def _truncate(data: bytes, rng) -> bytes:
    return data[:int(rng.integers(1, len(data)))]


def _garbage(data: bytes, rng) -> bytes:
    at = int(rng.integers(0, len(data)))
    return data[:at] + rng.bytes(int(rng.integers(1, 4096))) + data[at:]


def _duplicate(data: bytes, rng) -> bytes:
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 20000)))
    return data[:b] + data[a:b] + data[b:]


def _drop(data: bytes, rng) -> bytes:
    a = int(rng.integers(0, len(data)))
    return data[:a] + data[a + int(rng.integers(1, 5000)):]


MUTATIONS = {"flip bytes": _flip, "truncate": _truncate, "insert garbage": _garbage,
             "duplicate a span": _duplicate, "drop a span": _drop}


@pytest.fixture(scope="module")
def scan():
    raw = open_raw(RAW)
    acqs = list(raw.acquisitions())
    wire = (protocol.config_text(chain_text(raw.trajectory, SETTINGS)) + protocol.header(raw.header_xml)
            + b"".join(protocol.item(a) for a in acqs) + protocol.close())
    return raw, wire, list(Pipeline.load("cartesian", dict(SETTINGS)).run(raw.header, acqs))


def _send(port: int, data: bytes) -> str:
    """Send the mutated stream, then read until CLOSE, EOF or reset; how it ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
        try:
            sock.sendall(data)
        except OSError:
            return "dropped while sending"
        reader = protocol.SocketReader(sock)
        kinds = set()
        try:
            while True:
                message_id, _ = protocol.read_message(reader)
                if message_id == protocol.CLOSE:
                    return "closed after " + ("/".join(sorted(kinds)) or "nothing")
                kinds.add({protocol.IMAGE: "images", protocol.TEXT: "text", protocol.ERROR: "error"}.get(
                    message_id, str(message_id)))
        except (EOFError, ConnectionError, protocol.ProtocolError):
            return "connection ended"


def _same(got, expected) -> bool:
    return len(got) == len(expected) and all(
        np.abs(a.data - b.data).max() <= 1e-5 * np.abs(b.data).max() for a, b in zip(got, expected, strict=True))


@pytest.mark.timeout(600)
def test_mutated_wire_streams_are_bounded_and_the_server_still_serves(scan, capsys):
    raw, wire, replayed = scan
    server = Server("127.0.0.1", 0, timeout_s=5, idle_timeout_s=5, scan_deadline_s=BOUND_S).start()
    rng = np.random.default_rng(int(os.environ.get("GADGETRON_INR_FUZZ_SEED", "3")))
    outcomes: dict[str, dict[str, int]] = {}
    slowest = 0.0
    try:
        for case in range(CASES):
            name = list(MUTATIONS)[case % len(MUTATIONS)]
            started = time.monotonic()
            ended = _send(server.port, MUTATIONS[name](wire, rng))
            took = time.monotonic() - started
            slowest = max(slowest, took)
            assert took < BOUND_S + 5, f"case {case} ({name}) took {took:.1f} s"
            outcomes.setdefault(name, {}).setdefault(ended, 0)
            outcomes[name][ended] += 1
            if case % 4 == 3 or case == CASES - 1:  # the server is still whole
                session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port,
                                 timeout_s=BOUND_S)
                assert session.errors == [] and _same(session.images, replayed), f"after case {case} ({name})"
    finally:
        server.stop()
    with capsys.disabled():
        print(f"\nwire fuzz: {CASES} cases, slowest {slowest:.2f} s, outcomes {outcomes}")
