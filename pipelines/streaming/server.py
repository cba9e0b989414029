"""A loopback stand-in for Gadgetron: accepts the ``gadgetron_ismrmrd_client`` protocol and runs the
requested chain with the embedded host (``pipelines.host``).

One thread per client, each with its own pipeline instance (its own scan state). Every socket has a
timeout, so a silent client costs a thread for at most ``timeout_s``. A configuration is either a
name (message 1) that must resolve to a file directly inside the configured folder, or XML text
(message 2) whose nodes the embedded host accepts -- it imports only modules of the ``gadgets``
package -- so a client can make the server neither read an arbitrary file nor import arbitrary code.

Errors go back as Gadgetron sends them: one TEXT message with one line, then CLOSE.

Robustness (docs/streaming.md, "Robustness"): ``max_clients`` bounds the connections holding a slot;
``compute_slots`` bounds the scans computing at once (the others wait in a FIFO queue, their
position logged); a scan's data is read to its CLOSE before it queues for compute; a scan whose
client has gone (EOF seen by a watcher thread) or that passed its deadline stops at the next item,
output or progress report and frees its slots; each message must arrive within ``idle_timeout_s``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import select
import socket
import threading
import time
from pathlib import Path

import ismrmrd

from gadgets.base import describe
from pipelines.errors import UserError
from pipelines.host import CONFIG_DIR, Pipeline, parse_config
from pipelines.streaming import protocol
from pipelines.validation import check_acquisition

log = logging.getLogger(__name__)

DRAIN_S = 30.0  # after an error, how long we read and drop the client's remaining data
DRAIN_BYTES = 256 << 20  # ... and how much of it
SCAN_DEADLINE_S = 1800.0
IDLE_TIMEOUT_S = 60.0


class ScanStopped(BaseException):
    """The client went away, or the scan passed its deadline, while it waited or computed. A
    BaseException, like ``asyncio.CancelledError``: a method's fallback (``except Exception``) must
    not turn a cancellation into a second, slower method."""

    def __init__(self, message: str, deadline: bool = False):
        super().__init__(message)
        self.deadline = deadline


def default_compute_slots(threads: int | None = None) -> int:
    """Scans computing at once: the cores divided by the threads one scan uses (torch's intra-op
    pool, which is process-wide, so every scan gets the same count)."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def resolve_config_name(name: str, config_dir: Path = CONFIG_DIR) -> Path:
    """``cartesian`` or ``cartesian.xml`` -> that file in ``config_dir``; nothing else (no paths)."""
    name = name.strip()
    stem = name[:-4] if name.lower().endswith(".xml") else name
    known = sorted(p.stem for p in config_dir.glob("*.xml"))
    if stem not in known:  # also refuses "../x", "/etc/passwd", "sub/dir.xml": none is a listed stem
        raise UserError(f"unknown configuration {name!r} (known: {', '.join(known)})")
    return config_dir / f"{stem}.xml"


class Server:
    """``Server(port=0).start()`` listens on a thread; ``.port`` is the bound port; ``.stop()`` ends it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9002, config_dir: Path = CONFIG_DIR,
                 timeout_s: float = 60.0, max_clients: int = 8, external: bool = False,
                 scan_deadline_s: float = SCAN_DEADLINE_S, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 compute_slots: int | None = None):
        self.config_dir = Path(config_dir)
        self.external = external  # nodes as `python -m gadgetron` children, as Gadgetron runs them
        self.timeout_s = timeout_s
        self.scan_deadline_s = scan_deadline_s
        self.idle_timeout_s = idle_timeout_s
        self.compute_slots = compute_slots or default_compute_slots()
        self.computing = 0
        self.queue: collections.deque = collections.deque()
        self.queue_changed = threading.Condition()
        self.listener = socket.create_server((host, port))
        self.listener.settimeout(0.5)  # accept() wakes up to see a stop request
        self.port = self.listener.getsockname()[1]
        self.slots = threading.BoundedSemaphore(max_clients)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.served = 0

    def start(self) -> Server:
        thread = threading.Thread(target=self.serve_forever, name="gadgetron-inr-serve", daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def stop(self, wait_s: float = 10.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + wait_s
        for thread in list(self.threads):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.listener.close()

    def serve_forever(self) -> None:
        log.info("listening on %s:%d", *self.listener.getsockname()[:2])
        while not self.stopping.is_set():
            try:
                sock, peer = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # listener closed
            self.threads = [t for t in self.threads if t.is_alive()]
            thread = threading.Thread(target=self._client, args=(sock, peer), name=f"client-{peer[1]}", daemon=True)
            thread.start()
            self.threads.append(thread)

    # -- one client -----------------------------------------------------------------------------
    def _client(self, sock: socket.socket, peer) -> None:
        sock.settimeout(self.timeout_s)
        reader = protocol.SocketReader(sock)
        with contextlib.closing(sock):
            if not self.slots.acquire(blocking=False):
                self._fail(sock, reader, f"server busy: {self.slots._initial_value} scans already running")
                return
            try:
                self._scan(sock, reader, peer)
            finally:
                self.slots.release()

    def _scan(self, sock, reader, peer) -> None:
        started = time.monotonic()
        deadline = started + self.scan_deadline_s
        reader.deadline, reader.idle_s = deadline, self.idle_timeout_s
        sent = 0
        gone, done = threading.Event(), threading.Event()

        def check() -> None:
            if gone.is_set():
                raise ScanStopped("the client closed the connection")
            if time.monotonic() > deadline:
                raise ScanStopped(f"scan deadline of {self.scan_deadline_s:g} s passed", deadline=True)

        try:
            pipeline, header = self._open(reader)
            log.info("%s:%d: pipeline %s, method %s", *peer[:2], pipeline.name, pipeline.properties.get("method", "?"))
            items = list(self._items(reader))  # the whole scan, to its CLOSE, before it queues for compute
            reader.idle_s = None
            sock.settimeout(self.timeout_s)  # the reads' deadlines may have shortened it
            threading.Thread(target=self._watch, args=(sock, gone, done), name=f"watch-{peer[1]}", daemon=True).start()
            with self._compute_slot(peer, check):
                for image in pipeline.run(header, items, external=self.external, check=check):
                    sock.sendall(protocol.item(image))
                    sent += 1
            sock.sendall(protocol.close())
        except ScanStopped as exc:
            if exc.deadline:
                self._drop(sock, peer, exc, started)
            else:
                log.warning("%s:%d: client lost (%s); scan cancelled after %.1f s", *peer[:2], exc,
                            time.monotonic() - started)
            return
        except protocol.DeadlineExceeded as exc:
            self._drop(sock, peer, exc, started)
            return
        except (EOFError, ConnectionError, TimeoutError) as exc:
            # The client went away or fell silent: nothing to tell it; this thread just ends.
            log.warning("%s:%d: client lost (%s); scan abandoned after %.1f s", *peer[:2], describe(exc),
                        time.monotonic() - started)
            return
        except Exception as exc:  # noqa: BLE001 - every failure must reach the client as one line
            message = str(exc) if isinstance(exc, UserError) else describe(exc)
            expected = isinstance(exc, (UserError, protocol.ProtocolError))
            log.error("%s:%d: %s", *peer[:2], message, exc_info=not expected)
            self._fail(sock, reader, message)
            return
        finally:
            done.set()
            self.served += 1
        log.info("%s:%d: %d images in %.1f s", *peer[:2], sent, time.monotonic() - started)

    @staticmethod
    def _drop(sock, peer, exc, started) -> None:
        log.warning("%s:%d: %s; scan dropped after %.1f s", *peer[:2], exc, time.monotonic() - started)
        with contextlib.suppress(OSError):  # best effort, and quick: this client is slow
            sock.settimeout(1.0)
            sock.sendall(protocol.text(f"gadgetron-inr server: {exc}") + protocol.close())

    @staticmethod
    def _watch(sock, gone: threading.Event, done: threading.Event) -> None:
        """After the client's CLOSE it sends nothing more: readable now means it closed (EOF) or reset."""
        try:
            while not done.is_set():
                readable, _, _ = select.select([sock], [], [], 0.2)
                if readable:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        gone.set()
                    return  # EOF, or data after CLOSE (not ours to read): stop watching either way
        except (OSError, ValueError):
            if not done.is_set():
                gone.set()

    @contextlib.contextmanager
    def _compute_slot(self, peer, check):
        """FIFO queue for the compute slots; its length is bounded by ``max_clients``."""
        me = object()
        with self.queue_changed:
            self.queue.append(me)
            try:
                position = len(self.queue)
                if self.computing >= self.compute_slots or position > 1:
                    log.info("%s:%d: queued for compute, position %d (%d of %d slots busy)", *peer[:2], position,
                             self.computing, self.compute_slots)
                while self.queue[0] is not me or self.computing >= self.compute_slots:
                    self.queue_changed.wait(0.2)
                    check()
                self.computing += 1
            finally:
                self.queue.remove(me)
                self.queue_changed.notify_all()
        try:
            yield
        finally:
            with self.queue_changed:
                self.computing -= 1
                self.queue_changed.notify_all()

    def _open(self, reader) -> tuple[Pipeline, object]:
        message_id, payload = protocol.read_message(reader)
        if message_id == protocol.CONFIG_FILE:
            path = resolve_config_name(payload, self.config_dir)
            pipeline = Pipeline(parse_config(path.read_bytes(), where=path.name), name=path.stem)
        elif message_id == protocol.CONFIG_TEXT:
            pipeline = Pipeline(parse_config(payload, where="configuration text"), name="text")
        else:
            raise protocol.ProtocolError(f"expected a configuration (message 1 or 2) first, got message {message_id}")
        message_id, payload = protocol.read_message(reader)
        if message_id != protocol.HEADER:
            raise protocol.ProtocolError(f"expected the ISMRMRD header (message 3), got message {message_id}")
        try:
            header = ismrmrd.xsd.CreateFromDocument(payload)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the client's header
            raise UserError(f"the ISMRMRD header does not parse: {protocol.one_line(exc)}") from None
        return pipeline, header

    @staticmethod
    def _items(reader):
        """Acquisitions (and images) until CLOSE. Waveforms are accepted and dropped: the project's
        chains use none (Gadgetron would pass them on to nodes that ask for them)."""
        count = 0
        while True:
            message_id, payload = protocol.read_message(reader)
            if message_id == protocol.CLOSE:
                return
            if message_id == protocol.ACQUISITION:
                check_acquisition(payload, count)
                count += 1
            if message_id in (protocol.ACQUISITION, protocol.IMAGE):
                yield payload
            elif message_id not in (protocol.WAVEFORM, protocol.TEXT):
                raise protocol.ProtocolError(f"unexpected message {message_id} in the data stream")

    def _fail(self, sock, reader, message: str) -> None:
        """TEXT + CLOSE, then read and drop the client's remaining data until its CLOSE, or, once a
        message does not parse, raw bytes until it closes (bounded by DRAIN_S and DRAIN_BYTES):
        closing with unread input resets the connection, and the client could lose our message."""
        try:
            sock.sendall(protocol.text(protocol.one_line(message)) + protocol.close())
        except OSError as exc:
            log.debug("sending the error: %s", describe(exc))
            return
        deadline = time.monotonic() + DRAIN_S
        reader.deadline, reader.idle_s = deadline, None
        reader.timeout_s = min(self.timeout_s, 5.0)
        try:
            while protocol.read_message(reader)[0] != protocol.CLOSE:
                pass
            return
        except (EOFError, OSError) as exc:  # gone, silent or past the drain's time
            log.debug("after the error: %s", describe(exc))
            return
        except Exception as exc:  # noqa: BLE001 - unparsable: its length is unknown, so drop raw bytes
            log.debug("after the error, unparsable input (%s); dropping raw bytes", describe(exc))
        dropped = 0
        try:
            while dropped < DRAIN_BYTES and time.monotonic() < deadline:
                sock.settimeout(max(0.05, min(reader.timeout_s, deadline - time.monotonic())))
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError as exc:
            log.debug("after the error: %s", describe(exc))


# -- command --------------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: loopback only; the server runs no authentication)")
    parser.add_argument("--port", type=int, default=9002, help="port (default 9002, Gadgetron's)")
    parser.add_argument("--configs", type=Path, default=CONFIG_DIR,
                        help="folder of stream configurations a client may name (default: the packaged ones)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a client may stay silent (default 60)")
    parser.add_argument("--max-clients", type=int, default=8,
                        help="connections holding a scan slot, computing or queued (default 8)")
    parser.add_argument("--compute", type=int, default=None,
                        help="scans computing at once; the others wait in a queue (default: cores // --threads)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (process-wide, shared by every scan; default torch's own)")
    parser.add_argument("--scan-deadline", type=float, default=SCAN_DEADLINE_S,
                        help=f"seconds a scan may take from connection to last image (default {SCAN_DEADLINE_S:g})")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S,
                        help=f"seconds for each whole message to arrive (default {IDLE_TIMEOUT_S:g}); "
                        "--timeout bounds each read")
    parser.add_argument("--external-processes", action="store_true",
                        help="run each node as a `python -m gadgetron` child process, as Gadgetron does")


def run(args) -> int:
    if not args.configs.is_dir():
        raise UserError(f"configuration folder {str(args.configs)!r} does not exist")
    for name in ("max_clients", "compute", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("timeout", "scan_deadline", "idle_timeout"):
        if not getattr(args, name) > 0:
            raise UserError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    compute = args.compute or default_compute_slots(args.threads)
    try:
        server = Server(args.host, args.port, args.configs, args.timeout, args.max_clients, args.external_processes,
                        args.scan_deadline, args.idle_timeout, compute)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        server.serve_forever()
    finally:
        server.stop(wait_s=1.0)
    return 0
