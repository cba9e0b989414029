"""``gadgetron-inr worker``: a long-lived external node for Gadgetron's connect mode.

In execute mode Gadgetron starts ``python -m gadgetron`` for every scan, so every scan pays for
importing torch, creating the CUDA context and loading models. A ``<connect port="18000"/>`` node
instead dials a process that is already running: this one. It accepts one scan after another (one
at a time, as Gadgetron sends them per node), running a fresh gadget per scan -- scan state never
leaks -- in a process whose imports, CUDA context and caches stay warm.

``gadgetron.external.listen`` (package 1.4.1) would serve a single connection, and its socket
wrapper clears the timeout and spins forever if the peer closes mid-message (``recv`` returning
``b""`` is retried). ``gadgets.base.BoundedSocket`` keeps a timeout and turns a closed peer into an error.
"""

from __future__ import annotations

import importlib
import logging
import socket
import threading
import time

import ismrmrd
from gadgetron.external.connection import Connection

from gadgets.base import BoundedSocket, Gadget, describe, report_failure
from pipelines.errors import UserError
from pipelines.files.validation import check_acquisition
from pipelines.streaming.host import ALLOWED_PACKAGE
from pipelines.streaming.protocol import ProtocolError

log = logging.getLogger(__name__)

DEFAULT_TARGET = "gadgets.cine_reconstruction:CineReconstruction"


def load_target(spec: str) -> type[Gadget]:
    """``module:Class`` inside the gadgets package."""
    module_name, _, class_name = spec.partition(":")
    if not class_name or not (module_name == ALLOWED_PACKAGE or module_name.startswith(ALLOWED_PACKAGE + ".")):
        raise UserError(f"--target {spec!r}: expected module:Class with the module inside the 'gadgets' package")
    try:
        cls = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError as exc:
        raise UserError(f"--target {spec!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Gadget)):
        raise UserError(f"--target {spec!r} is not a gadget class")
    return cls


class StrictConnection(Connection):
    """gadgetron-python's ``Connection``, stricter: an unknown message id is an error (the package
    ends the stream there, so partial data followed by garbage became a finished scan), a
    configuration that does not parse is an error (the package gives None: default properties), and
    every acquisition is checked as ``replay`` checks a file's (no NaN or Inf)."""

    def __init__(self, socket):
        self.acquisitions = 0
        super().__init__(socket)

    def check_config(self) -> None:
        if self.config is None and (self.raw_bytes.config or b"").strip():
            raise UserError("the node's configuration is not valid XML")

    def _read_item(self):
        message_identifier = self._read_message_identifier()
        reader = self.readers.get(message_identifier)
        if reader is None:
            raise ProtocolError(f"unknown message id {message_identifier} after {self.acquisitions} acquisitions")
        item = reader(self.socket)
        if isinstance(item, ismrmrd.Acquisition):
            check_acquisition(item, self.acquisitions)
            self.acquisitions += 1
        return message_identifier, item


class Worker:
    def __init__(self, target: type[Gadget], overrides: dict[str, str] | None = None, host: str = "127.0.0.1",
                 port: int = 18000, timeout_s: float = 120.0):
        self.target = target
        self.overrides = dict(overrides or {})
        self.timeout_s = timeout_s
        self.listener = socket.create_server((host, port))
        self.listener.settimeout(0.5)  # accept() wakes up to see a stop request
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.scans = 0
        self.failures = 0

    def serve_forever(self, max_scans: int | None = None) -> None:
        log.info("worker %s on port %d, waiting for Gadgetron", self.target.__name__, self.port)
        try:
            while not self.stopping.is_set() and (max_scans is None or self.scans < max_scans):
                try:
                    sock, peer = self.listener.accept()
                except TimeoutError:
                    continue
                self.scan(sock, peer)
        finally:
            self.listener.close()

    def scan(self, sock: socket.socket, peer) -> bool:
        started = time.monotonic()
        ok = False
        connection = None
        try:
            connection = StrictConnection(BoundedSocket(sock, self.timeout_s))  # reads CONFIG and HEADER
            connection.check_config()
            # The command line's overrides win over the node's <configuration> (Gadget.handle).
            ok = self.target(self.overrides).handle(connection)
        except Exception as exc:  # noqa: BLE001 - a broken scan must not end the worker
            log.error("scan from %s: %s", peer[0], describe(exc))
            if connection is not None:  # the gadget never ran: Gadgetron must still hear why
                report_failure(connection, describe(exc), self.timeout_s)
        finally:
            self.scans += 1
            self.failures += not ok
            try:
                if connection is not None and not ok:
                    _close_after_failure(sock)
                elif connection is not None:
                    connection.socket.close()  # sends CLOSE, as ``with Connection(...)`` would
                else:
                    sock.close()
            except OSError as exc:
                log.debug("closing: %s", exc)
        log.info("scan %d %s in %.1f s", self.scans, "done" if ok else "failed", time.monotonic() - started)
        return ok


def _close_after_failure(sock: socket.socket, drain_s: float = 5.0, drain_bytes: int = 64 << 20) -> None:
    """CLOSE, end our side, then drop what the peer still sends (input after garbage, whose length
    is unknown) until it closes, bounded: closing with unread input resets the connection, and the
    peer could lose the ERROR already sent."""
    try:
        sock.sendall(b"\x04\x00")  # CLOSE
        sock.shutdown(socket.SHUT_WR)
        deadline, dropped = time.monotonic() + drain_s, 0
        while dropped < drain_bytes and time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            dropped += len(chunk)
    except OSError as exc:
        log.debug("after the failure: %s", exc)
    finally:
        sock.close()


# -- command --------------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; in a container give the address Gadgetron dials)")
    parser.add_argument("--port", type=int, default=18000, help="port of the <connect> node (default 18000)")
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"gadget module:Class (default {DEFAULT_TARGET})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="property overriding the node's configuration (repeatable), e.g. device=cuda")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds Gadgetron may stay silent mid-scan")
    parser.add_argument("--scans", type=int, help="exit after this many scans (default: run until stopped)")


def run(args) -> int:
    from pipelines.streaming.host import parse_overrides

    target = load_target(args.target)
    overrides = parse_overrides(args.overrides)
    try:
        worker = Worker(target, overrides, args.host, args.port, args.timeout)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    if "device" not in overrides or overrides["device"] != "cpu":
        _warm_cuda()
    worker.serve_forever(args.scans)
    return 0


def _warm_cuda() -> None:
    """Create the CUDA context once, before the first scan, when there is a GPU."""
    import torch

    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")
        log.info("CUDA context ready on %s", torch.cuda.get_device_name())
