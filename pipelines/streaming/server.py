"""A loopback stand-in for Gadgetron: accepts the ``gadgetron_ismrmrd_client`` protocol and runs the
requested chain with the embedded host (``pipelines.streaming.host``).

One thread per client, each with its own pipeline instance (its own scan state). Every socket has a
timeout, so a silent client costs a thread for at most ``timeout_s``. A configuration is either a
name (message 1) that must resolve to a file directly inside the configured folder, or XML text
(message 2) whose nodes the embedded host accepts -- it imports only modules of the ``gadgets``
package -- so a client can make the server neither read an arbitrary file nor import arbitrary code.

Errors go back as Gadgetron sends them: one TEXT message with one line, then CLOSE. Expected
failures (a bad scan, configuration or setting: ``UserError``, ``GadgetError``, ``ProtocolError``)
are one ERROR line in the log; a traceback only for an unexpected exception (a bug).

FIRE / python-ismrmrd-server clients: a TEXT message of JSON (``{"parameters": {...}}``, the
"configAdditional") before the data sets the chain's settings the way ``--set`` does and may choose
the chain (``config``/``customconfig``): ``pipelines.streaming.parameters``.

Robustness (docs/streaming.md, "Robustness"; docs/robustness.md): a connection takes a slot only
once its configuration and header have arrived within ``handshake_timeout_s``; until then it waits
in a pool of at most ``max_handshakes`` (the oldest dropped when a new one comes), so idle sockets
cannot keep scans out. Every message's size is checked against the header's limits and the
server's memory budget before it is read (``protocol.Limits``, ``protocol.MemoryBudget``).
``max_clients`` bounds the connections holding a slot;
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
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd

from gadgets.base import GadgetError, describe
from inr_core.progress import Progress
from pipelines.errors import UserError
from pipelines.files.validation import check_acquisition
from pipelines.streaming import protocol
from pipelines.streaming.host import CONFIG_DIR, Pipeline, load_settings, parse_config
from pipelines.streaming.parameters import SOURCE, parse_config_additional

log = logging.getLogger(__name__)

DRAIN_S = 30.0  # after an error, how long we read and drop the client's remaining data
DRAIN_BYTES = 256 << 20  # ... and how much of it
SCAN_DEADLINE_S = 1800.0
IDLE_TIMEOUT_S = 60.0
HANDSHAKE_TIMEOUT_S = 10.0  # configuration and header: a scanner sends them at once
MAX_HANDSHAKES = 64  # connections waiting for their handshake (or draining after a refusal), oldest dropped
EXPECTED = (UserError, GadgetError, protocol.ProtocolError)  # a bad scan, not a bug: one line, no traceback


class ServerBusy(UserError):
    """Every slot is taken: the client is told so (a warning in the log, not an error of its scan)."""


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


def default_memory_budget() -> int:
    """Half the machine's memory: what the server's connections may hold of received data at once."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):
        return 8 << 30


@dataclass
class Opening:
    """What a scan sends before its data: the configuration (a name or XML text), the header, and any
    configAdditional JSON texts (before the header, or after it before the first item)."""

    kind: int = 0  # protocol.CONFIG_FILE or CONFIG_TEXT
    config: str = ""
    header_xml: bytes = b""
    header: object = None
    texts: list[str] = field(default_factory=list)


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
                 compute_slots: int | None = None, handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
                 max_handshakes: int = MAX_HANDSHAKES, memory_budget_bytes: int | None = None,
                 settings: dict | None = None, settings_source: str = "server settings"):
        self.config_dir = Path(config_dir)
        # The site's settings (serve --settings FILE.yaml), applied to every scan's chain before its
        # client's parameters (which override them).
        self.settings, self.settings_source = dict(settings or {}), settings_source
        self.external = external  # nodes as `python -m gadgetron` children, as Gadgetron runs them
        self.timeout_s = timeout_s
        self.scan_deadline_s = scan_deadline_s
        self.idle_timeout_s = idle_timeout_s
        self.handshake_timeout_s = handshake_timeout_s
        self.max_handshakes = max_handshakes
        self.budget = protocol.MemoryBudget(memory_budget_bytes or default_memory_budget())
        # Connections holding no slot (handshaking, or draining after a refusal), oldest first.
        self.unslotted: collections.OrderedDict[int, socket.socket] = collections.OrderedDict()
        self.unslotted_lock = threading.Lock()
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
            self._admit(sock)
            thread = threading.Thread(target=self._client, args=(sock, peer), name=f"client-{peer[1]}", daemon=True)
            thread.start()
            self.threads.append(thread)

    # -- connections without a slot ------------------------------------------------------------------
    def _admit(self, sock: socket.socket) -> None:
        """Into the pool of connections holding no slot; when it is full the oldest goes (its socket is
        shut down, so its reads end at once): a flood of idle sockets cannot keep a real scan out."""
        with self.unslotted_lock:
            while len(self.unslotted) >= self.max_handshakes:
                _, oldest = self.unslotted.popitem(last=False)
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)
            self.unslotted[id(sock)] = sock

    def _leave_pool(self, sock: socket.socket) -> bool:
        """Out of the pool; False when it had been dropped from it."""
        with self.unslotted_lock:
            return self.unslotted.pop(id(sock), None) is not None

    def _in_pool(self, sock: socket.socket) -> bool:
        with self.unslotted_lock:
            return id(sock) in self.unslotted

    # -- one client -----------------------------------------------------------------------------
    def _client(self, sock: socket.socket, peer) -> None:
        sock.settimeout(self.timeout_s)
        account = self.budget.account()
        reader = protocol.SocketReader(sock, account=account)
        slotted = False
        try:
            with contextlib.closing(sock):
                slotted = self._session(sock, reader, peer)
        finally:
            account.release_all()
            if not slotted:
                self._leave_pool(sock)

    def _session(self, sock, reader, peer) -> bool:
        """Handshake, slot, data, compute, images; every failure answered here. True once a slot was taken."""
        started = time.monotonic()
        deadline = started + self.scan_deadline_s
        sent, slotted = 0, False
        gone, done = threading.Event(), threading.Event()

        def check() -> None:
            if gone.is_set():
                raise ScanStopped("the client closed the connection")
            if time.monotonic() > deadline:
                raise ScanStopped(f"scan deadline of {self.scan_deadline_s:g} s passed", deadline=True)

        try:
            opening = self._handshake(reader, deadline)
            if not self._leave_pool(sock):
                raise ConnectionAbortedError("dropped from the connections waiting for their handshake")
            if not self.slots.acquire(blocking=False):
                self._admit(sock)  # back among the connections without a slot while it is told so
                raise ServerBusy(f"server busy: {self.slots._initial_value} scans already running")
            slotted = True
            reader.deadline, reader.idle_s, reader.deadline_name = deadline, self.idle_timeout_s, "scan deadline"
            reader.limits = protocol.Limits.from_header(opening.header)
            pipeline, items = self._data(reader, opening)
            log.info("%s:%d: pipeline %s, method %s, %d items", *peer[:2], pipeline.name,
                     pipeline.properties.get("method", "?"), len(items))
            reader.idle_s = None
            sock.settimeout(self.timeout_s)  # the reads' deadlines may have shortened it
            threading.Thread(target=self._watch, args=(sock, gone, done), name=f"watch-{peer[1]}", daemon=True).start()
            progress = Progress(f"{peer[0]}:{peer[1]}", terminal=False, logger=log)
            with self._compute_slot(peer, check):
                for image in pipeline.run(opening.header, items, progress=progress, external=self.external,
                                          check=check):
                    sock.sendall(protocol.item(image))
                    sent += 1
            progress.close()
            sock.sendall(protocol.close())
        except ScanStopped as exc:
            if exc.deadline:
                self._drop(sock, peer, exc, started)
            else:
                log.warning("%s:%d: client lost (%s); scan cancelled after %.1f s", *peer[:2], exc,
                            time.monotonic() - started)
            return slotted
        except protocol.DeadlineExceeded as exc:
            self._drop(sock, peer, exc, started)
            return slotted
        except (EOFError, ConnectionError, TimeoutError) as exc:
            # The client went away or fell silent: nothing to tell it; this thread just ends.
            if not slotted and not self._in_pool(sock):
                log.warning("%s:%d: dropped before its handshake ended: %d newer connections were waiting",
                            *peer[:2], self.max_handshakes)
            else:
                log.warning("%s:%d: client lost (%s); %s after %.1f s", *peer[:2], describe(exc),
                            "scan abandoned" if slotted else "no scan started", time.monotonic() - started)
            return slotted
        except Exception as exc:  # noqa: BLE001 - every failure must reach the client as one line
            expected = isinstance(exc, EXPECTED)
            message = protocol.one_line(exc) if expected else describe(exc)
            log.log(logging.WARNING if isinstance(exc, ServerBusy) else logging.ERROR, "%s:%d: %s", *peer[:2],
                    message, exc_info=not expected)
            reader.account.release_all()  # what it sent is not kept while its rest is drained
            reader.account = None
            self._fail(sock, reader, message)
            return slotted
        finally:
            done.set()
            if slotted:
                self.slots.release()
                self.served += 1
        log.info("%s:%d: %d images in %.1f s", *peer[:2], sent, time.monotonic() - started)
        return slotted

    def _handshake(self, reader, deadline: float) -> Opening:
        """The configuration and the header (and any configAdditional text before the header), within
        the handshake deadline; no slot is held meanwhile."""
        handshake = time.monotonic() + self.handshake_timeout_s
        reader.deadline, reader.idle_s = min(deadline, handshake), self.idle_timeout_s
        reader.deadline_name = ("scan deadline" if deadline < handshake else
                                f"handshake deadline of {self.handshake_timeout_s:g} s (configuration and header)")
        opening = Opening()
        message_id, payload = protocol.read_message(reader)
        if message_id not in (protocol.CONFIG_FILE, protocol.CONFIG_TEXT):
            raise protocol.ProtocolError(f"expected a configuration (message 1 or 2) first, got message {message_id}")
        opening.kind, opening.config = message_id, payload
        while True:
            message_id, payload = protocol.read_message(reader)
            if message_id == protocol.HEADER:
                break
            if message_id != protocol.TEXT:
                raise protocol.ProtocolError(f"expected the ISMRMRD header (message 3), got message {message_id}")
            opening.texts.append(payload)
        try:
            opening.header = ismrmrd.xsd.CreateFromDocument(payload)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the client's header
            raise UserError(f"the ISMRMRD header does not parse: {protocol.one_line(exc)}") from None
        opening.header_xml = payload
        return opening

    def _data(self, reader, opening: Opening) -> tuple[Pipeline, list]:
        """configAdditional texts up to the first item, then the chain (configured from them), then the
        rest of the scan to its CLOSE. Waveforms are accepted and dropped: the project's chains use
        none (Gadgetron would pass them on to nodes that ask for them)."""
        message_id, payload = protocol.read_message(reader)
        while message_id == protocol.TEXT:
            opening.texts.append(payload)
            message_id, payload = protocol.read_message(reader)
        pipeline = self._pipeline(opening)
        items, count = [], 0
        while message_id != protocol.CLOSE:
            if message_id == protocol.ACQUISITION:
                check_acquisition(payload, count)
                count += 1
            if message_id in (protocol.ACQUISITION, protocol.IMAGE):
                items.append(payload)
            elif message_id == protocol.TEXT:
                raise UserError("a configAdditional text (message 5) must come before the data")
            elif message_id != protocol.WAVEFORM:
                raise protocol.ProtocolError(f"unexpected message {message_id} in the data stream")
            message_id, payload = protocol.read_message(reader)
        return pipeline, items

    def _pipeline(self, opening: Opening) -> Pipeline:
        """The chain the configuration message names, or the one the parameters choose (as the reference
        server: ``customconfig``, then ``config``), with the parameters applied where ``--set`` applies
        its settings (``Pipeline.override``): the same checks and errors, before any data is read."""
        settings, config = {}, None
        for text in opening.texts:
            additional = parse_config_additional(text)
            settings.update(additional.settings)
            config = additional.config or config
        if config is not None or opening.kind == protocol.CONFIG_FILE:
            path = resolve_config_name(config if config is not None else opening.config, self.config_dir)
            pipeline = Pipeline(parse_config(path.read_bytes(), where=path.name), name=path.stem)
        else:
            pipeline = Pipeline(parse_config(opening.config, where="configuration text"), name="text")
        pipeline.override(self.settings, source=self.settings_source)
        pipeline.override(settings, source=SOURCE)
        return pipeline

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
                        help="connections holding a scan slot, computing or queued (default 8); a connection "
                             "takes a slot once its configuration and header have arrived")
    parser.add_argument("--handshake-timeout", type=float, default=HANDSHAKE_TIMEOUT_S,
                        help="seconds from connecting to the end of the header (configuration, optional JSON "
                             f"parameters, header); no slot is held meanwhile (default {HANDSHAKE_TIMEOUT_S:g})")
    parser.add_argument("--max-handshakes", type=int, default=MAX_HANDSHAKES,
                        help="connections waiting for their handshake without a slot; when full the oldest "
                             f"is dropped (default {MAX_HANDSHAKES})")
    parser.add_argument("--memory-budget", type=float, default=None, metavar="GIB",
                        help="GiB of received scan data the server holds at once over all connections; a "
                             "message that does not fit is refused before it is read (default: half the memory)")
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
    parser.add_argument("--settings", metavar="FILE.yaml",
                        help="the site's settings (name: value) for every scan's chain; a client's JSON "
                             "parameters override them")


def check_settings(config_dir: Path, settings: dict, source: str) -> None:
    """The site's settings against every configuration in ``config_dir`` the embedded host runs, at
    start: an unknown key or a bad value stops the server, not the first scan."""
    for path in sorted(config_dir.glob("*.xml")):
        try:
            pipeline = Pipeline(parse_config(path.read_bytes(), where=path.name), name=path.stem)
        except UserError:  # e.g. a <connect> node: Gadgetron's, never run here
            continue
        pipeline.override(settings, source=f"{source} (configuration {path.name})")


def run(args) -> int:
    if not args.configs.is_dir():
        raise UserError(f"configuration folder {str(args.configs)!r} does not exist")
    for name in ("max_clients", "compute", "threads", "max_handshakes"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("timeout", "scan_deadline", "idle_timeout", "handshake_timeout"):
        if not 0 < getattr(args, name) < float("inf"):
            raise UserError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    if args.memory_budget is not None and not 0 < args.memory_budget < float("inf"):
        raise UserError("--memory-budget must be a positive number of GiB")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    compute = args.compute or default_compute_slots(args.threads)
    settings_file = getattr(args, "settings", None)
    settings, source = load_settings(settings_file), f"settings file {str(settings_file)!r}"
    check_settings(args.configs, settings, source)
    try:
        server = Server(args.host, args.port, args.configs, args.timeout, args.max_clients, args.external_processes,
                        args.scan_deadline, args.idle_timeout, compute, handshake_timeout_s=args.handshake_timeout,
                        max_handshakes=args.max_handshakes,
                        memory_budget_bytes=None if args.memory_budget is None else int(args.memory_budget * 2**30),
                        settings=settings, settings_source=source)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        server.serve_forever()
    finally:
        server.stop(wait_s=1.0)
    return 0
