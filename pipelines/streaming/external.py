"""Run a chain's ``<external>`` nodes as Gadgetron does: one ``python -m gadgetron PORT MODULE TARGET``
child per node, dialling a loopback port we listen on, fed CONFIG, HEADER, items and CLOSE.

This is the embedded host's out-of-process mode (``Pipeline.run(..., external=True)``): the same
child-process path, socket framing and error messages (id 8) as under Gadgetron, without Gadgetron.
Node i's replies are pumped into node i+1 by a thread per node; the last node's go to the caller.
Every accept, read and join is bounded; children still alive at the end are killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path
from xml.sax.saxutils import quoteattr

import ismrmrd

from gadgets.base import GadgetError
from pipelines.streaming import protocol

log = logging.getLogger(__name__)

ROOT = Path(__file__).parents[1]
_END = object()


def config_xml(properties: dict[str, str]) -> bytes:
    props = "".join(f"<property name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in properties.items())
    return f"<configuration>{props}</configuration>".encode()


class Child:
    """One node: its process and the accepted socket."""

    def __init__(self, node, header_xml: bytes, timeout_s: float):
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(timeout_s)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "GADGETRON_EXTERNAL_LOG_LEVEL": os.environ.get("GADGETRON_EXTERNAL_LOG_LEVEL", "WARNING")}
        port = str(listener.getsockname()[1])
        # stdout is Gadgetron's data stream in --from_stream mode: a child never gets ours.
        self.process = subprocess.Popen([sys.executable, "-m", "gadgetron", port, node.module, node.target],
                                        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.name = f"{node.module}.{node.target}"
        try:
            self.sock, _ = listener.accept()
        except TimeoutError:
            self.process.kill()
            raise GadgetError(f"{self.name}: the child process did not connect within {timeout_s:g} s") from None
        finally:
            listener.close()
        self.sock.settimeout(timeout_s)
        self.sock.sendall(protocol.config_text(config_xml(node.properties)) + protocol.header(header_xml))
        self.reader = protocol.SocketReader(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def finish(self, timeout_s: float) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not exit; killed", self.name)
            self.process.kill()
            self.process.wait(timeout=timeout_s)


def run_external(nodes, header, items, timeout_s: float = 120.0):
    """Items in, the last node's outputs out; a node's ERROR message raises GadgetError."""
    header_xml = ismrmrd.xsd.ToXML(header).encode()
    children: list[Child] = []
    out: queue.Queue = queue.Queue()
    errors: list[str] = []
    failed = threading.Event()
    try:
        for node in nodes:
            children.append(Child(node, header_xml, timeout_s))

        def feed():
            try:
                for item in items:
                    if failed.is_set():
                        break
                    children[0].send(protocol.item(item))
            except Exception as exc:  # noqa: BLE001 - reported to the caller through the queue
                errors.append(f"feeding the chain: {protocol.one_line(exc)}")
                failed.set()
            finally:
                with contextlib.suppress(OSError):
                    children[0].send(protocol.close())

        def pump(i: int):
            nxt = children[i + 1] if i + 1 < len(children) else None
            try:
                while True:
                    message_id, payload = protocol.read_message(children[i].reader)
                    if message_id == protocol.CLOSE:
                        break
                    if message_id == protocol.ERROR:
                        errors.append(payload)
                        failed.set()
                    elif nxt is not None:
                        if not failed.is_set():
                            nxt.send(protocol.item(payload))
                    else:
                        out.put(payload)
            except Exception as exc:  # noqa: BLE001 - a dead child: reported, the chain stops
                errors.append(f"{children[i].name}: {protocol.one_line(exc) or type(exc).__name__}")
                failed.set()
            finally:
                if nxt is not None:
                    with contextlib.suppress(OSError):
                        nxt.send(protocol.close())
                else:
                    out.put(_END)

        threads = [threading.Thread(target=feed, daemon=True)]
        threads += [threading.Thread(target=pump, args=(i,), daemon=True) for i in range(len(children))]
        for thread in threads:
            thread.start()
        while True:
            try:
                got = out.get(timeout=timeout_s)
            except queue.Empty:
                raise GadgetError(f"no output from the chain within {timeout_s:g} s") from None
            if got is _END:
                break
            if not failed.is_set():
                yield got
        for thread in threads:
            thread.join(timeout=timeout_s)
        if errors:
            raise GadgetError(errors[0])
    finally:
        for child in children:
            child.finish(timeout_s=10)
