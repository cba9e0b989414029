"""A loopback stand-in for Gadgetron: accepts the ``gadgetron_ismrmrd_client`` protocol and runs the
requested chain with the embedded host (``pipelines.host``).

One thread per client, each with its own pipeline instance (its own scan state). Every socket has a
timeout, so a silent client costs a thread for at most ``timeout_s``. A configuration is either a
name (message 1) that must resolve to a file directly inside the configured folder, or XML text
(message 2) whose nodes the embedded host accepts -- it imports only modules of the ``gadgets``
package -- so a client can make the server neither read an arbitrary file nor import arbitrary code.

Errors go back as Gadgetron sends them: one TEXT message with one line, then CLOSE.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from pathlib import Path

import ismrmrd

from gadgets.base import describe
from pipelines.errors import UserError
from pipelines.host import CONFIG_DIR, Pipeline, parse_config
from pipelines.streaming import protocol

log = logging.getLogger(__name__)

DRAIN_S = 30.0  # after an error, how long we read and drop the client's remaining data


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
                 timeout_s: float = 60.0, max_clients: int = 8, external: bool = False):
        self.config_dir = Path(config_dir)
        self.external = external  # nodes as `python -m gadgetron` children, as Gadgetron runs them
        self.timeout_s = timeout_s
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
        sent = 0
        try:
            pipeline, header = self._open(reader)
            log.info("%s:%d: pipeline %s, method %s", *peer[:2], pipeline.name, pipeline.properties.get("method", "?"))
            for image in pipeline.run(header, self._items(reader), external=self.external):
                sock.sendall(protocol.item(image))
                sent += 1
            sock.sendall(protocol.close())
        except (EOFError, ConnectionError, TimeoutError) as exc:
            # The client went away or fell silent: nothing to tell it; this thread just ends.
            log.warning("%s:%d: client lost (%s); scan abandoned", *peer[:2], describe(exc))
            return
        except Exception as exc:  # noqa: BLE001 - every failure must reach the client as one line
            message = str(exc) if isinstance(exc, UserError) else describe(exc)
            expected = isinstance(exc, (UserError, protocol.ProtocolError))
            log.error("%s:%d: %s", *peer[:2], message, exc_info=not expected)
            self._fail(sock, reader, message)
            return
        finally:
            self.served += 1
        log.info("%s:%d: %d images in %.1f s", *peer[:2], sent, time.monotonic() - started)

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
        while True:
            message_id, payload = protocol.read_message(reader)
            if message_id == protocol.CLOSE:
                return
            if message_id in (protocol.ACQUISITION, protocol.IMAGE):
                yield payload
            elif message_id not in (protocol.WAVEFORM, protocol.TEXT):
                raise protocol.ProtocolError(f"unexpected message {message_id} in the data stream")

    def _fail(self, sock, reader, message: str) -> None:
        """TEXT + CLOSE, then read and drop the client's remaining data until its CLOSE (bounded):
        closing with unread input resets the connection, and the client could lose our message."""
        try:
            sock.sendall(protocol.text(protocol.one_line(message)) + protocol.close())
            sock.settimeout(min(self.timeout_s, 5.0))
            deadline = time.monotonic() + DRAIN_S
            while time.monotonic() < deadline:
                if protocol.read_message(reader)[0] == protocol.CLOSE:
                    break
        except Exception as exc:  # noqa: BLE001 - the client may be gone already; nothing more to do
            log.debug("after the error: %s", describe(exc))


# -- command --------------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: loopback only; the server runs no authentication)")
    parser.add_argument("--port", type=int, default=9002, help="port (default 9002, Gadgetron's)")
    parser.add_argument("--configs", type=Path, default=CONFIG_DIR,
                        help="folder of stream configurations a client may name (default: the packaged ones)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a client may stay silent (default 60)")
    parser.add_argument("--max-clients", type=int, default=8, help="scans at once (default 8)")
    parser.add_argument("--external-processes", action="store_true",
                        help="run each node as a `python -m gadgetron` child process, as Gadgetron does")


def run(args) -> int:
    if not args.configs.is_dir():
        raise UserError(f"configuration folder {str(args.configs)!r} does not exist")
    try:
        server = Server(args.host, args.port, args.configs, args.timeout, args.max_clients, args.external_processes)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        server.serve_forever()
    finally:
        server.stop(wait_s=1.0)
    return 0
