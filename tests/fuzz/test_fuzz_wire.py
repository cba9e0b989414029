"""Seeded mutations of a whole wire stream (config, header, acquisitions, close) sent to the loopback
server, and of the acquisitions Gadgetron would send to the connect-mode worker: every one is
answered or dropped within its bound, and the server (the worker) then serves a normal scan equal to
``replay``. ``GADGETRON_INR_FUZZ=N`` runs N cases instead of the CI count."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, stream
from pipelines.streaming.host import Pipeline
from pipelines.streaming.server import Server
from pipelines.streaming.worker import Worker, load_target

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


def _send(port: int, data: bytes, half_close: bool = False) -> str:
    """Send the mutated stream (then, with ``half_close``, end our sending side, as Gadgetron does when
    its scan ends), read until CLOSE, EOF or reset; how it ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
        # From a thread: a peer that stops reading must not block us before we read its answer.
        sender = threading.Thread(target=_send_all, args=(sock, data, half_close), daemon=True)
        sender.start()
        ended = _read_replies(sock)
        sender.join(timeout=BOUND_S)
        return ended


def _send_all(sock, data: bytes, half_close: bool) -> None:
    try:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the peer dropped us: its answer (or its silence) is what is checked


def _read_replies(sock) -> str:
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


def _worker_scan(port: int, data: bytes) -> list:
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
        sock.sendall(data)
        reader, images = protocol.SocketReader(sock), []
        while (message := protocol.read_message(reader))[0] != protocol.CLOSE:
            assert message[0] == protocol.IMAGE, message
            images.append(message[1])
    return images


@pytest.mark.timeout(600)
def test_mutated_streams_to_the_worker_are_bounded_and_it_still_serves(scan, capsys):
    raw, _, replayed = scan
    acqs = list(raw.acquisitions())
    config = '<configuration><property name="method" value="zero-filled"/><property name="device" value="cpu"/>' \
             '</configuration>'
    opening = protocol.config_text(config) + protocol.header(raw.header_xml)  # what Gadgetron sends a <connect> node
    good = b"".join(protocol.item(a) for a in acqs) + protocol.close()
    worker = Worker(load_target("gadgets.cine_reconstruction:CineReconstruction"), port=0, timeout_s=5)
    thread = threading.Thread(target=worker.serve_forever, daemon=True)
    thread.start()
    rng = np.random.default_rng(int(os.environ.get("GADGETRON_INR_FUZZ_SEED", "3")) + 1)
    outcomes: dict[str, dict[str, int]] = {}
    slowest = 0.0
    try:
        # The worker is the chain's last node (Gadgetron prewhitens and removes the oversampling before
        # it), so its own scan before the attacks is the reference, not replay of the whole chain.
        before = _worker_scan(worker.port, opening + good)
        assert len(before) == len(replayed)
        for case in range(max(CASES // 2, 1)):
            name = list(MUTATIONS)[case % len(MUTATIONS)]
            started = time.monotonic()
            # A worker waits on Gadgetron for as long as the connection is open (a scanner may pause
            # for minutes); Gadgetron closes its side when the scan ends, and so does this test.
            ended = _send(worker.port, opening + MUTATIONS[name](good, rng), half_close=True)
            took = time.monotonic() - started
            slowest = max(slowest, took)
            assert took < BOUND_S + 5, f"case {case} ({name}) took {took:.1f} s"
            outcomes.setdefault(name, {}).setdefault(ended, 0)
            outcomes[name][ended] += 1
        after = _worker_scan(worker.port, opening + good)
        assert _same(after, before), "the worker's scan after the attacks differs from the one before"
    finally:
        worker.stopping.set()
        thread.join(timeout=10)
    with capsys.disabled():
        print(f"\nworker wire fuzz: {max(CASES // 2, 1)} cases, slowest {slowest:.2f} s, outcomes {outcomes}")
