"""The server and the worker under hostile and clumsy clients (issue 14): clients that vanish
mid-scan or while queued, clients that trickle bytes, ten scans at once on a loaded machine, garbage
after partial data, unparsable configurations, NaN samples. After every attack a normal scan still
succeeds and equals ``replay``. Every wait is bounded (socket timeouts, joins, pytest-timeout)."""

from __future__ import annotations

import logging
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, stream
from pipelines.streaming.host import Pipeline
from pipelines.streaming.server import ScanStopped, Server, default_compute_slots
from pipelines.streaming.worker import Worker, load_target

ROOT = Path(__file__).parents[2]
RAW = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"
SETTINGS = {"method": "zero-filled", "device": "cpu"}
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def raw():
    return open_raw(RAW)


@pytest.fixture(scope="module")
def acqs(raw):
    return list(raw.acquisitions())


@pytest.fixture(scope="module")
def replayed(raw, acqs):
    return list(Pipeline.load("cartesian", dict(SETTINGS)).run(raw.header, acqs))


@pytest.fixture(scope="module")
def opening(raw):
    """CONFIG (text) + HEADER, as the emulator sends them."""
    return protocol.config_text(chain_text(raw.trajectory, SETTINGS)) + protocol.header(raw.header_xml)


def assert_same_images(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.slice, a.phase, a.image_series_index) == (b.slice, b.phase, b.image_series_index)
        assert np.abs(a.data - b.data).max() <= 1e-5 * np.abs(b.data).max()


def good_scan(server, raw, replayed, timeout_s=30.0):
    session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port,
                     timeout_s=timeout_s)
    assert session.errors == [] and session.closed
    assert_same_images(session.images, replayed)
    return session


def wait_for(condition, timeout_s: float) -> float:
    """Seconds until ``condition()`` holds; fails after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "condition not reached in time"
        time.sleep(0.02)
    return time.monotonic() - started


def replies(sock):
    reader, out = protocol.SocketReader(sock), []
    while True:
        message_id, payload = protocol.read_message(reader)
        if message_id == protocol.CLOSE:
            return out
        out.append((message_id, payload))


@pytest.fixture
def running():
    servers = []

    def start(**kwargs):
        kwargs.setdefault("timeout_s", 10)
        srv = Server("127.0.0.1", 0, **kwargs).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def free_slots(server) -> int:
    return server.slots._value


# -- 1. a client that goes frees its slot -----------------------------------------------------------
@pytest.mark.timeout(60)
def test_client_gone_mid_stream_frees_its_slot(running, raw, acqs, replayed, opening):
    server = running(max_clients=1)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(opening + b"".join(protocol.item(a) for a in acqs[: len(acqs) // 2]))
    wait_for(lambda: free_slots(server) == 0, 10)
    sock.close()
    FIGURES["slot freed after a mid-stream disconnect (s)"] = wait_for(lambda: free_slots(server) == 1, 5)
    good_scan(server, raw, replayed)  # served, not "server busy"


@pytest.mark.timeout(60)
def test_client_gone_while_queued_cancels_the_scan(running, raw, acqs, replayed, opening):
    server = running(max_clients=2, compute_slots=1)
    with server.queue_changed:
        server.computing = 1  # the compute slot is taken: the next scan queues
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(opening + b"".join(protocol.item(a) for a in acqs) + protocol.close())
    wait_for(lambda: len(server.queue) == 1, 10)
    sock.close()
    FIGURES["queued scan cancelled after its client went (s)"] = wait_for(
        lambda: free_slots(server) == 2 and not server.queue, 5)
    with server.queue_changed:
        server.computing = 0
        server.queue_changed.notify_all()
    good_scan(server, raw, replayed)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["zero-filled", "cg-sense"])
def test_a_cancelled_scan_stops_mid_compute_without_falling_back(raw, acqs, method, caplog):
    """The server's check raises ScanStopped (a BaseException): the host stops between items, outputs
    and progress reports of a long step, and no method fallback (``except Exception``) catches it."""
    calls = {"n": 0}

    def check():
        calls["n"] += 1
        if calls["n"] > len(acqs) + 2:  # past the data: in the compute
            raise ScanStopped("the client closed the connection")

    pipeline = Pipeline.load("cartesian", {"method": method, "device": "cpu"})
    with pytest.raises(ScanStopped), caplog.at_level(logging.WARNING):
        list(pipeline.run(raw.header, acqs, check=check))
    assert not any("falling back" in r.getMessage() for r in caplog.records)


# -- 2. deadlines -------------------------------------------------------------------------------------
def trickle(port, data: bytes, every_s: float, stop: threading.Event, result: dict):
    """Send ``data`` one byte every ``every_s``; record when the server ended the connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            for byte in data:
                if stop.wait(every_s):
                    return
                sock.sendall(bytes([byte]))
                sock.setblocking(False)
                try:
                    if sock.recv(1 << 16, socket.MSG_PEEK) == b"":
                        break
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
                    sock.settimeout(10)
        except OSError:
            pass
        result["dropped_after_s"] = time.monotonic() - started


def message_trickle(port, messages: list[bytes], every_s: float, stop: threading.Event, result: dict):
    """Whole messages, one every ``every_s``: each read and each message is quick, the scan is not."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            for message in messages:
                sock.sendall(message)
                if stop.wait(every_s):
                    return
        except OSError:
            pass
        try:
            result["replies"] = replies(sock)
        except (OSError, EOFError) as exc:
            result["replies"] = repr(exc)
        result["dropped_after_s"] = time.monotonic() - started


def slow_clients(port, acqs, opening, stop):
    byte_slow, message_slow = {}, {}
    threads = [threading.Thread(target=trickle, args=(port, opening, 0.5, stop, byte_slow), daemon=True),
               threading.Thread(target=message_trickle, args=(port, [opening] + [protocol.item(a) for a in acqs],
                                                              0.5, stop, message_slow), daemon=True)]
    for thread in threads:
        thread.start()
    return threads, byte_slow, message_slow


@pytest.mark.timeout(60)
def test_slow_clients_are_dropped_at_their_deadlines(running, raw, acqs, replayed, opening):
    server = running(max_clients=3, timeout_s=3, idle_timeout_s=2, scan_deadline_s=4)
    stop = threading.Event()
    try:
        threads, byte_slow, message_slow = slow_clients(server.port, acqs, opening, stop)
        for thread in threads:
            thread.join(timeout=15)
        assert not any(t.is_alive() for t in threads)
    finally:
        stop.set()
    # one byte every 0.5 s passes every per-read timeout (3 s); the idle timeout (2 s per message) drops it
    assert 1.5 < byte_slow["dropped_after_s"] < 7.0
    # a message every 0.5 s passes the idle timeout; the scan deadline (4 s) drops it, with a line
    assert 3.5 < message_slow["dropped_after_s"] < 9.0
    assert [m for m, _ in message_slow["replies"]] == [protocol.TEXT]
    assert "scan deadline" in message_slow["replies"][0][1]
    FIGURES["byte-trickling client dropped (s, idle timeout 2)"] = byte_slow["dropped_after_s"]
    FIGURES["message-trickling client dropped (s, scan deadline 4)"] = message_slow["dropped_after_s"]
    wait_for(lambda: free_slots(server) == 3 and not server.unslotted, 5)


@pytest.mark.timeout(90)
def test_a_good_client_is_served_beside_slow_ones(running, raw, acqs, replayed, opening):
    """Apart from the deadline test: a scan deadline short enough to drop the slow ones in seconds
    would also bound the good scan, which took over 8 s once on the loaded machine."""
    server = running(max_clients=3, timeout_s=3, idle_timeout_s=2)
    stop = threading.Event()
    try:
        threads, byte_slow, message_slow = slow_clients(server.port, acqs, opening, stop)
        # the message trickler holds a slot; the byte trickler never finishes its handshake, so holds none
        wait_for(lambda: free_slots(server) == 2, 5)
        good_scan(server, raw, replayed, timeout_s=60)
        assert threads[1].is_alive() and "dropped_after_s" not in message_slow  # served while it still trickles
    finally:
        stop.set()
    for thread in threads:
        thread.join(timeout=15)
    wait_for(lambda: free_slots(server) == 3, 10)


# -- 5. the error line arrives after garbage ----------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("attack", ["unknown id", "nan sample"])
def test_error_after_garbage_reaches_the_client(running, raw, acqs, replayed, opening, attack):
    server = running(max_clients=2)
    if attack == "unknown id":
        bad = struct.pack("<H", 4321) + bytes(range(256)) * 4096  # 1 MiB of garbage after an unknown id
    else:
        nan = acqs[3].__class__(acqs[3].getHead())
        nan.data[:] = acqs[3].data
        nan.data[0, 0] = np.nan
        bad = protocol.item(nan) + bytes(range(256)) * 4096
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sender = threading.Thread(
            target=lambda: sock.sendall(opening + b"".join(protocol.item(a) for a in acqs[:100]) + bad), daemon=True)
        sender.start()
        got = replies(sock)  # no reset: TEXT, then CLOSE
        sender.join(timeout=10)
    assert [m for m, _ in got] == [protocol.TEXT]
    assert ("unknown message id 4321" if attack == "unknown id" else "NaN or Inf") in got[0][1]
    wait_for(lambda: free_slots(server) == 2, 5)
    good_scan(server, raw, replayed)


# -- 3 and 6. ten at once, queued, also on a loaded machine ---------------------------------------------
def ten_at_once(server, raw, replayed):
    results, errors = [None] * 10, []

    def one(i):
        try:
            started = time.monotonic()
            session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port,
                             timeout_s=60)
            results[i] = (time.monotonic() - started, session)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=65)
    assert not errors and all(r is not None for r in results)
    for _, session in results:
        assert session.errors == [] and session.closed
        assert_same_images(session.images, replayed)
    return time.monotonic() - started, max(r[0] for r in results)


@pytest.fixture
def one_torch_thread():
    """As ``serve --threads 1`` (torch's pool is process-wide: restored afterwards). With torch's
    default (a thread per core) beside CPU-bound processes its workers fight them: 10 scans took
    1.7-47 s here; with one thread each and compute slots = cores, 6-7 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.timeout(150)
def test_ten_concurrent_scans_queue_and_equal_replay_also_under_load(running, raw, replayed, caplog,
                                                                     one_torch_thread):
    """Compute slots = cores // torch threads; with 10 scans some queue. The bounds are wide because
    other jobs share this machine."""
    server = running(max_clients=10, compute_slots=default_compute_slots(1))
    with caplog.at_level(logging.INFO, logger="pipelines.streaming.server"):
        FIGURES["10 concurrent scans, quiet (s)"], _ = ten_at_once(server, raw, replayed)
    assert any("queued for compute, position" in r.getMessage() for r in caplog.records) or server.compute_slots >= 10
    burners = [subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()+60\nwhile time.time()<t: pass"])
               for _ in range(2)]
    try:
        FIGURES["10 concurrent scans, 2 CPU-bound processes beside (s)"], _ = ten_at_once(server, raw, replayed)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait(timeout=10)
    wait_for(lambda: free_slots(server) == 10 and server.computing == 0 and not server.queue, 10)
    good_scan(server, raw, replayed)


# -- 4. the worker --------------------------------------------------------------------------------------
WORKER_CONFIG = ('<configuration><property name="method" value="zero-filled"/><property name="device" value="cpu"/>'
                 '<property name="calibration_width" value="16"/></configuration>')


def as_gadgetron(port, header_xml, payload: bytes, config: str = WORKER_CONFIG):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.settimeout(20)
        opening = (struct.pack("<HI", 2, len(config)) + config.encode() + struct.pack("<HI", 3, len(header_xml))
                   + header_xml)
        sender = threading.Thread(target=lambda: sock.sendall(opening + payload), daemon=True)
        sender.start()
        got = replies(sock)
        sender.join(timeout=10)
        return got


@pytest.mark.timeout(90)
def test_worker_refuses_garbage_bad_configs_and_nan(raw, acqs, replayed):
    """Each an ERROR (no images, no plain CLOSE); a normal scan before and after gives the same images."""
    worker = Worker(load_target("gadgets.cine_reconstruction:CineReconstruction"), port=0, timeout_s=5)
    thread = threading.Thread(target=worker.serve_forever, daemon=True)
    thread.start()
    good = b"".join(protocol.item(a) for a in acqs) + protocol.close()
    nan = acqs[5].__class__(acqs[5].getHead())
    nan.data[:] = acqs[5].data
    nan.data[1, 2] = np.nan
    try:
        first = as_gadgetron(worker.port, raw.header_xml, good)
        garbage = as_gadgetron(worker.port, raw.header_xml,
                               b"".join(protocol.item(a) for a in acqs[:100]) + struct.pack("<H", 4321) + b"x" * 5000)
        unparsable = as_gadgetron(worker.port, raw.header_xml, good, config="<configuration><property")
        nans = as_gadgetron(worker.port, raw.header_xml,
                            b"".join(protocol.item(a) for a in acqs[:5]) + protocol.item(nan) + good)
        again = as_gadgetron(worker.port, raw.header_xml, good)
    finally:
        worker.stopping.set()
        thread.join(timeout=10)
    for got, words in ((garbage, "unknown message id 4321"), (unparsable, "not valid XML"), (nans, "NaN or Inf")):
        assert [m for m, _ in got] == [protocol.ERROR], got
        assert words in got[0][1]
    assert [m for m, _ in first] == [protocol.IMAGE] * len(replayed)
    assert_same_images([p for _, p in again], [p for _, p in first])
    assert (worker.scans, worker.failures) == (5, 3)


# -- 7. sizes checked before anything is allocated (issue 23 item 4) -------------------------------------
class BytesReader:
    """``read_exactly`` over bytes: what was sent and nothing more (reading past it is an EOFError)."""

    def __init__(self, data: bytes, limits=None, account=None):
        self.data, self.at, self.limits, self.account = data, 0, limits, account

    def read_exactly(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise EOFError(f"read past the {len(self.data)} bytes sent")
        self.at += n
        return self.data[self.at - n:self.at]


def claiming(acq, channels: int, samples: int) -> bytes:
    """An acquisition's message id and fixed header claiming ``channels`` x ``samples``, no payload."""
    head = acq.getHead()
    head.active_channels, head.number_of_samples, head.trajectory_dimensions = channels, samples, 0
    return struct.pack("<H", protocol.ACQUISITION) + bytes(head)


def refused_with_peak(reader) -> tuple[str, int]:
    tracemalloc.start()
    try:
        with pytest.raises(protocol.MessageTooLarge) as caught:
            protocol.read_message(reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reader.at == len(reader.data)  # refused on the header alone: the payload was never asked for
    return str(caught.value), peak


def test_a_header_claiming_65535_channels_by_65535_samples_is_refused_without_allocating(raw, acqs):
    bomb = claiming(acqs[0], 65535, 65535)  # 65535 * 65535 * 8 bytes = 32 GiB
    # with the scan's header: receiverChannels 4 and a 96-sample encoded matrix
    message, peak = refused_with_peak(BytesReader(bomb, protocol.Limits.from_header(raw.header)))
    assert "65535 channels; the header allows 4" in message and peak < 1 << 20
    # without a header (a client's reader): ISMRMRD's 1024-channel ceiling
    message, peak = refused_with_peak(BytesReader(bomb))
    assert "allows 1024" in message and peak < 1 << 20
    # within every size limit (1024 x 16384 = 128 MiB) but beyond what the memory budget has left
    budget = protocol.MemoryBudget(64 << 20)
    message, peak = refused_with_peak(BytesReader(claiming(acqs[0], 1024, 16384), account=budget.account()))
    assert "memory budget" in message and peak < 1 << 20 and budget.used == 0
    # a real readout passes the scan's limits and is reserved from the budget
    account = budget.account()
    got = protocol.read_message(BytesReader(protocol.item(acqs[5]), protocol.Limits.from_header(raw.header), account))
    assert np.array_equal(got[1].data, acqs[5].data) and budget.used == account.held >= acqs[5].data.nbytes
    account.release_all()
    assert budget.used == 0


@pytest.mark.timeout(60)
def test_the_server_refuses_a_memory_bomb_at_once_and_serves_on(running, raw, acqs, replayed, opening):
    server = running(max_clients=2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # the bomb's header and nothing more: an answer proves the payload was not waited for
        sock.sendall(opening + b"".join(protocol.item(a) for a in acqs[:3]) + claiming(acqs[3], 65535, 65535))
        got = replies(sock)
    assert [m for m, _ in got] == [protocol.TEXT]
    assert "claims 65535 channels; the header allows 4" in got[0][1]
    wait_for(lambda: free_slots(server) == 2 and server.budget.used == 0, 5)
    good_scan(server, raw, replayed)
    wait_for(lambda: server.budget.used == 0, 10)  # every scan gives back what it held (its thread, after the close)


@pytest.mark.timeout(60)
def test_a_scan_larger_than_the_memory_budget_is_refused_before_its_data_is_kept(running, raw, acqs, replayed):
    server = running(max_clients=2, memory_budget_bytes=200_000)  # the tiny scan holds about 560 kB
    session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port, timeout_s=30)
    assert session.images == [] and "memory budget" in session.errors[0]
    wait_for(lambda: server.budget.used == 0, 5)


# -- 8. idle sockets hold no slot: a slot only after the handshake (issue 23 item 4) ---------------------
def idle_connections(port: int, n: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]


@pytest.mark.timeout(90)
def test_twenty_idle_connections_do_not_keep_a_scan_out_of_two_slots(running, raw, replayed):
    server = running(max_clients=2, handshake_timeout_s=30, idle_timeout_s=60)
    idle = idle_connections(server.port, 20)
    try:
        wait_for(lambda: len(server.unslotted) == 20, 10)
        started = time.monotonic()
        good_scan(server, raw, replayed)  # before: "server busy: 2 scans already running"
        FIGURES["scan served beside 20 idle connections, 2 slots (s)"] = time.monotonic() - started
        assert time.monotonic() - started < server.handshake_timeout_s
        # served while every idle connection is still open, none of them holding a slot
        assert len(server.unslotted) == 20
        wait_for(lambda: free_slots(server) == 2, 10)  # the scan's thread gives its slot back after the client's close
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.timeout(90)
def test_waiting_connections_are_bounded_and_dropped_at_the_handshake_deadline(running, raw, replayed):
    server = running(max_clients=2, handshake_timeout_s=3, idle_timeout_s=60, max_handshakes=5)
    idle = idle_connections(server.port, 20)
    try:
        wait_for(lambda: len(server.unslotted) == 5, 10)  # the 15 oldest were dropped as newer ones came
        for sock in idle[:15]:
            assert sock.recv(1 << 16) == b""  # closed by the server, at once
        good_scan(server, raw, replayed)  # the pool is full of idle sockets: the oldest makes room
        got = replies(idle[-1])  # a survivor of the pool: told why, then closed, at its deadline
        assert [m for m, _ in got] == [protocol.TEXT] and "handshake deadline of 3 s" in got[0][1]
        wait_for(lambda: not server.unslotted, 10)
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.timeout(60)
def test_a_scan_beyond_the_slots_is_told_busy_after_its_handshake(running, raw, acqs, replayed, opening):
    server = running(max_clients=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as holder:
        holder.sendall(opening + protocol.item(acqs[0]))  # handshake done: it holds the one slot
        wait_for(lambda: free_slots(server) == 0, 10)
        session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port,
                         timeout_s=30)
        assert session.images == [] and session.errors == ["server busy: 1 scans already running"]
    wait_for(lambda: free_slots(server) == 1 and not server.unslotted, 10)
    good_scan(server, raw, replayed)


@pytest.mark.parametrize(("option", "value", "words"), [
    ("--handshake-timeout", "0", "--handshake-timeout must be a positive number of seconds"),
    ("--handshake-timeout", "inf", "--handshake-timeout must be a positive number of seconds"),
    ("--max-handshakes", "0", "--max-handshakes must be at least 1"),
    ("--memory-budget", "-1", "--memory-budget must be a positive number of GiB"),
    ("--memory-budget", "nan", "--memory-budget must be a positive number of GiB"),
])
def test_serve_options_are_checked(option, value, words, capsys):
    from pipelines.cli import main

    assert main(["serve", "--port", "0", option, value]) == 2
    assert capsys.readouterr().err.strip() == f"gadgetron-inr: error: {words}"


# -- 9. a bad scan is one log line; a bug keeps its traceback (issue 23 item 4) ------------------------
class ServeProcess:
    """``gadgetron-inr serve`` in its own process, its stderr (the log) going to a file as in production."""

    def __init__(self, tmp_path: Path):
        self.log_path = tmp_path / "serve.log"
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", "0",
                                             "--threads", "1"], cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file)
        deadline, found = time.monotonic() + 60, None
        while found is None and time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.log_path.read_bytes())
            time.sleep(0.1)
        assert found, self.log_path.read_text()
        self.port = int(found.group(1))

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> bytes:
        self.process.terminate()
        stdout, _ = self.process.communicate(timeout=20)
        return stdout


@pytest.fixture(scope="module")
def serve_process(tmp_path_factory):
    server = ServeProcess(tmp_path_factory.mktemp("serve"))
    yield server
    assert server.stop() == b""  # nothing on stdout, ever


def fail_after_20(raw) -> bytes:
    fault = ('<external><execute name="gadgets.fault" target="FailAfter" type="python"/><configuration>'
             '<property name="fail_after" value="20"/></configuration></external>')
    return chain_text(raw.trajectory, SETTINGS).decode().replace("<stream>", "<stream>" + fault, 1).encode()


FAILURES = {  # what the client sends -> words of the one line it gets back and the log gets
    "forced failure (gadgets/fault.py)": (lambda raw, acqs: stream(raw, protocol.config_text(fail_after_20(raw)),
                                                                   port=PORT["serve"], timeout_s=60),
                                          "FailAfter: forced failure after 20 items"),
    "unsupported trajectory": (lambda raw, acqs: stream(raw, protocol.config_text(
        chain_text(raw.trajectory, {"method": "hash-inr"})), port=PORT["serve"], timeout_s=60),
                               "method 'hash-inr' does not support cartesian data"),
    "unknown configuration (UserError)": (lambda raw, acqs: stream(raw, protocol.config_file("no-such-chain"),
                                                                   port=PORT["serve"], timeout_s=60),
                                          "unknown configuration 'no-such-chain'"),
    "acquisition beyond the header's limits (ProtocolError)": (lambda raw, acqs: bomb_session(raw, acqs),
                                                               "claims 65535 channels; the header allows 4"),
}
PORT: dict[str, int] = {}


def bomb_session(raw, acqs):
    with socket.create_connection(("127.0.0.1", PORT["serve"]), timeout=10) as sock:
        sock.sendall(protocol.config_text(chain_text(raw.trajectory, SETTINGS)) + protocol.header(raw.header_xml)
                     + claiming(acqs[0], 65535, 65535))
        got = replies(sock)
    return type("Session", (), {"images": [], "errors": [p for _, p in got]})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(FAILURES))
def test_an_expected_failure_is_one_error_line_and_no_traceback_in_the_server_log(serve_process, raw, acqs, case):
    PORT["serve"] = serve_process.port
    before = len(serve_process.log())
    send, words = FAILURES[case]
    session = send(raw, acqs)
    assert session.images == [] and words in session.errors[0]  # the client gets the same line
    time.sleep(0.2)  # the server logs after it has answered
    log = serve_process.log()[before:]
    errors = [line for line in log.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
    assert len(errors) == 1 and words in errors[0], log
    assert errors[0].startswith("ERROR pipelines.streaming.server: 127.0.0.1:")
    assert "Traceback" not in log and "\r" not in log


@pytest.mark.timeout(60)
def test_an_unexpected_exception_keeps_its_traceback(running, raw, monkeypatch, caplog):
    server = running(max_clients=2)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Pipeline, "run", broken)
    with caplog.at_level(logging.ERROR, logger="pipelines.streaming.server"):
        session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port,
                         timeout_s=30)
    assert session.errors == ["ZeroDivisionError: a bug"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info and errors[0].exc_info[0] is ZeroDivisionError


def test_report_figures(capsys):
    with capsys.disabled():
        for key, value in FIGURES.items():
            print(f"\n  {key}: {value:.2f}", end="")
