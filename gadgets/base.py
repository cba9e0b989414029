"""The gadget base class, the in-process chain, and the Gadgetron external-target glue.

A gadget is built from ``(properties, header)``: the ``<property name=... value=...>`` pairs of its
``<configuration>`` (text, or typed values from a settings file or a server's JSON), and the ISMRMRD
header (``ismrmrd.xsd.ismrmrdHeader``). Gadgetron's ``python -m gadgetron`` starts a class target as
``Class().handle(connection)``, i.e. with no arguments, so both may be missing at construction and
are then taken from the connection.

Settings are typed: each gadget declares a ``Config`` dataclass (deriving :class:`NodeConfig`, the
settings every Gadgetron node takes), built from the properties by ``inr_core.settings.build`` when
the gadget is set up; an unknown or misspelt property, or a value that does not convert, is one
``GadgetError`` naming it and the nearest valid names, before any item is processed. A
:class:`Chain` routes each property to the stage(s) that declare it (:meth:`Chain.route`).
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from xml.etree import ElementTree

import ismrmrd

from inr_core import settings
from inr_core.allocator import keep_freed_memory

log = logging.getLogger(__name__)

# Wire id (gadgetron.external.constants has it too; kept here so the framing is explicit).
MESSAGE_ERROR = 8
GADGETRON_CLOSE_RACE_S = 0.5  # see report_failure


class GadgetError(Exception):
    """Bad or unsupported data found by a gadget; the message names the item and the problem."""


@dataclass
class NodeConfig:
    """What every gadget takes as a Gadgetron node (a chain: the chain itself, not its stages).

    ``waveforms``: ``pass`` (default) sends ISMRMRD waveforms on like any item the gadget does not
    use; ``drop`` ends them here. The packaged chains drop them at their first node on purpose: no
    gadget uses them, Gadgetron has no writer for them in those configurations (it would drop them at
    the end without a word) and gadgetron_ismrmrd_client does not read them back.
    """

    waveforms: Literal["pass", "drop"] = "pass"


NODE_SETTINGS = frozenset(settings.names(NodeConfig))


def properties_from_config(config) -> dict[str, str]:
    """``<property name="k" value="v"/>`` elements (anywhere in the configuration) as a dict.

    Accepts an ElementTree element, XML text/bytes, or None (the gadgetron package gives None when
    the configuration does not parse).
    """
    if config is None:
        return {}
    if isinstance(config, (str, bytes)):
        text = config.strip()
        if not text:
            return {}
        config = ElementTree.fromstring(text)
    found = {}
    for prop in config.iter():
        if prop.tag.split("}")[-1] != "property":
            continue
        name = prop.get("name") or prop.findtext("name")
        value = prop.get("value") if prop.get("value") is not None else prop.findtext("value")
        if name:
            found[name.strip()] = (value or "").strip()
    return found


def error_frame(text: str) -> bytes:
    """An ERROR message (id 8): uint16 id, uint64 length, UTF-8 text. gadgetron 1.4.1 has no writer for it."""
    payload = text.encode("utf-8", errors="replace")
    return struct.pack("<HQ", MESSAGE_ERROR, len(payload)) + payload


class Gadget:
    """One processing stage. Subclasses declare ``Config`` and override :meth:`configure`,
    :meth:`process`, :meth:`flush`."""

    Config: ClassVar[type[Any]] = NodeConfig

    def __init__(self, properties: Mapping[str, Any] | None = None, header=None):
        self.given_properties = dict(properties or {})
        self.properties = dict(self.given_properties)
        self.config: Any = None  # the typed Config, built by setup
        self.header = header
        self.progress = None  # optional callable(done, total, message), set by an in-process host
        if header is not None:
            self.setup(self.properties, header)

    @property
    def name(self) -> str:
        return type(self).__name__

    def setting_names(self, values: Mapping[str, Any]) -> list[str]:
        """The settings this gadget takes (``values``: the others given, for names that depend on them)."""
        return settings.names(self.Config)

    def settings(self, values: Mapping[str, Any]) -> Any:
        """``values`` as this gadget's typed ``Config``; ``ValueError`` naming a bad key or value."""
        return settings.build(self.Config, values, owner=self.name)

    def setup(self, properties: Mapping[str, Any], header) -> None:
        self.properties = dict(properties)
        try:
            self.config = self.settings(self.properties)
        except ValueError as exc:
            raise GadgetError(" ".join(str(exc).split())) from None
        self.header = header
        self.configure()

    def configure(self) -> None:
        """Read ``self.config`` and the header; called once both are known."""

    def set_progress(self, progress) -> None:
        """``progress(done, total, message)`` for long steps (an in-process host shows it)."""
        self.progress = progress

    def process(self, item) -> Iterable:
        """Items out for one item in. Default: pass the item on unchanged."""
        return (item,)

    def flush(self) -> Iterable:
        """Items still held at the end of the stream."""
        return ()

    def stream(self, items: Iterable) -> Iterator:
        """Run the gadget over a whole stream in-process, flush included."""
        for item in items:
            yield from self.process(item)
        yield from self.flush()

    # -- Gadgetron external target -------------------------------------------------------------
    def handle(self, connection) -> bool:
        """Run as a Gadgetron external node; returns True when the stream ended cleanly.

        Properties from the connection's configuration, overridden by any given at construction
        (a connect-mode worker started with command-line overrides). On an exception an ERROR
        message with one clear line goes back before the connection is closed by the caller
        (the ``with Connection(...)`` block in ``gadgetron.__main__`` / ``listen`` sends CLOSE).
        """
        keep_freed_memory()  # a process Gadgetron started: inr_core/allocator.py (once per process)
        # No timeout here: a node downstream of a slow one may wait minutes for its next item;
        # what must not happen is spinning on a closed socket.
        bound_socket(connection, None)
        if self.progress is None:  # under Gadgetron: progress as rate-limited log lines on stderr
            from inr_core.progress import Progress

            self.set_progress(Progress(self.name, terminal=False))
        try:
            properties = {**properties_from_config(connection.config), **self.given_properties}
            self.setup(properties, connection.header)
            drop_waveforms, dropped = self.config.waveforms == "drop", 0
            for item in connection:
                if drop_waveforms and isinstance(item, ismrmrd.Waveform):
                    dropped += 1
                    continue
                for out in self.process(item):
                    connection.send(out)
            for out in self.flush():
                connection.send(out)
            if dropped:
                log.info("%s: dropped %d waveforms (waveforms=drop)", self.name, dropped)
            return True
        except Exception as exc:  # every failure must reach Gadgetron as text, not a dropped socket
            message = describe(exc)
            if not message.startswith(f"{self.name}: "):  # a message may name its gadget already
                message = f"{self.name}: {message}"
            log.error("%s", message, exc_info=not isinstance(exc, (GadgetError, EOFError)))
            report_failure(connection, message)
            return False


def describe(exc: BaseException) -> str:
    """One line for an exception: a GadgetError's message as is; anything else (a bug, an
    environment problem) with its type, which is then part of the story."""
    text = " ".join(str(exc).split())
    if isinstance(exc, GadgetError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def send_error(connection, message: str) -> None:
    """Best effort: the socket may already be gone, which must not hide the original error."""
    try:
        connection.socket.write(error_frame(message))
    except Exception as exc:  # noqa: BLE001 - nothing more can be done on a dead socket
        log.warning("could not send the ERROR message: %s", exc)


class BoundedSocket:
    """A socket for gadgetron-python's ``Connection``: a timeout that its ``settimeout(None)`` cannot
    remove, and EOF as an exception. gadgetron 1.4.1's ``SocketWrapper.read`` retries ``recv() == b""``
    forever (100% CPU), so a child whose parent closed or reset the connection never exits -- and
    Gadgetron, which waits for every child before it reports a failure, then never answers."""

    def __init__(self, sock: socket.socket, timeout_s: float | None):
        self.sock = sock
        self.timeout_s = timeout_s
        sock.settimeout(timeout_s)

    def settimeout(self, value) -> None:
        self.sock.settimeout(self.timeout_s if value is None else value)

    def recv(self, n: int, flags: int = 0) -> bytes:
        data = self.sock.recv(n, flags)
        if n and not data:
            raise EOFError("Gadgetron closed the connection")
        return data

    def __getattr__(self, name):  # send, sendall, close, ...
        return getattr(self.sock, name)


def bound_socket(connection, timeout_s: float | None) -> None:
    """Put the socket under ``connection`` (a gadgetron ``Connection``) behind a BoundedSocket.
    One that is already bounded (the worker's) keeps its timeout unless a new one is given."""
    wrapper = connection.socket
    if not isinstance(wrapper.socket, BoundedSocket):
        wrapper.socket = BoundedSocket(wrapper.socket, timeout_s)
    elif timeout_s is not None:
        wrapper.socket.timeout_s = timeout_s
        wrapper.socket.sock.settimeout(timeout_s)


def drain(connection, timeout_s: float = 60.0) -> None:
    """Read and drop the rest of the input up to the parent's CLOSE, or its end of stream; the
    timeout keeps a silent parent from hanging us."""
    try:
        bound_socket(connection, timeout_s)
        for _ in connection:
            pass
    except Exception as exc:  # noqa: BLE001 - a broken stream is why we are here; stop reading
        log.debug("stopped draining the input: %s", exc)


def report_failure(connection, message: str, timeout_s: float = 60.0) -> None:
    """The input up to the parent's CLOSE first, then the ERROR (the caller then closes).

    In this order because Gadgetron 4.7.2 frees a node's outbound channel when the node's ERROR
    arrives, racing the thread still writing input to it: a crash of the scan's process in
    ``ExternalChannel::push_message`` (1 of 10 failing scans here) and no error text at the client.
    After its CLOSE the parent writes nothing more. Reading to the end also means we never close
    with unread input, which would reset the connection and could lose the ERROR. Gadgetron sends
    the error to its client only at the end of the stream anyway.

    The pause: Gadgetron writes its CLOSE and only then, in the same locked call, frees the channel
    object; an ERROR read in between makes a second thread close that freed object (a crash in
    ``ExternalChannel::Outbound::Open::close``, 2 of 2 runs of an unimportable module here)."""
    drain(connection, timeout_s)
    time.sleep(GADGETRON_CLOSE_RACE_S)
    send_error(connection, message)


def _error_on_failed_start() -> None:
    """``python -m gadgetron`` (package 1.4.1) imports the node's module and calls its target inside
    ``with Connection(...)``, whose exit only sends CLOSE: a module that fails to import, or a target
    that fails before ``handle`` runs, reaches Gadgetron as an empty, successful node. Closing the
    socket while an exception propagates now sends an ERROR first. The ``with`` has looked up
    ``Connection.__exit__`` before the import, so the hook is the socket wrapper's ``close``, which
    that exit calls. It covers every module of the ``gadgets`` package (importing one imports this
    module first); a module outside it never gets here. Patched only where the gadgetron package is
    already loaded (inside such a child, or a worker), never imported for it."""
    connection_class = getattr(sys.modules.get("gadgetron.external.connection"), "Connection", None)
    wrapper_class = getattr(connection_class, "SocketWrapper", None)
    if wrapper_class is None or getattr(wrapper_class.close, "sends_error", False):
        return
    plain_close = wrapper_class.close

    def close(self):
        failure = sys.exc_info()[1]
        if isinstance(failure, Exception):
            message = describe(failure)
            log.error("the node failed outside its gadget: %s", message)
            report_failure(_bare_connection(connection_class, self), message)
        plain_close(self)

    close.sends_error = True
    wrapper_class.close = close


def _bare_connection(connection_class, wrapper):
    """A ``Connection`` over an open socket wrapper, without reading the opening again: enough to
    send an error and iterate the rest of the input."""
    connection = connection_class.__new__(connection_class)
    connection.socket = wrapper
    connection.readers = connection_class._default_readers()
    connection.writers = connection_class._default_writers()
    connection.filters = []
    return connection


_error_on_failed_start()


class Chain(Gadget):
    """Stages composed in-process: each stage's outputs are the next one's inputs.

    Settings: the node's own (:class:`NodeConfig`) stay with the chain; every other key goes to the
    stage(s) that declare it (:meth:`route`), and a key no stage declares is an error.

    At the end of the stream stage i is flushed and its leftovers run through stages i+1...
    before stage i+1 itself is flushed, so nothing held by an early stage is lost.
    """

    stages: tuple[type[Gadget], ...] = ()

    def __init__(self, properties=None, header=None, stages: list[Gadget] | None = None):
        self.instances = list(stages) if stages is not None else [cls() for cls in self.stages]
        super().__init__(properties, header)

    @property
    def name(self) -> str:
        return type(self).__name__ if self.stages else "Chain(" + ", ".join(s.name for s in self.instances) + ")"

    def set_progress(self, progress) -> None:
        self.progress = progress
        for stage in self.instances:
            stage.set_progress(progress)

    def setting_names(self, values: Mapping[str, Any]) -> list[str]:
        names = list(NODE_SETTINGS)
        for stage in self.instances:
            names += [n for n in stage.setting_names(values) if n not in names]
        return names

    def route(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(the chain's own, one dict per stage)``: each key to every stage that declares it.

        A key that no stage declares is one ``SettingsError`` naming it and the nearest names."""
        own: dict[str, Any] = {}
        routed: list[dict[str, Any]] = [{} for _ in self.instances]
        declared = [set(stage.setting_names(values)) - NODE_SETTINGS for stage in self.instances]
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name in NODE_SETTINGS:
                own[name] = value
                continue
            takers = [i for i, names in enumerate(declared) if name in names]
            if not takers:
                raise settings.unknown(str(key), self.setting_names(values), self.name)
            for i in takers:
                routed[i][name] = value
        return own, routed

    def settings(self, values: Mapping[str, Any]) -> Any:
        own, routed = self.route(values)
        for stage, stage_values in zip(self.instances, routed, strict=True):
            stage.settings({**stage_values, **stage.given_properties})  # every stage's values checked now
        return settings.build(self.Config, own, owner=self.name)

    def configure(self) -> None:
        _, routed = self.route(self.properties)
        for stage, stage_values in zip(self.instances, routed, strict=True):
            # A stage that was built with its own properties keeps them.
            stage.setup({**stage_values, **stage.given_properties}, self.header)

    def _through(self, items: Iterable, start: int) -> Iterator:
        if start == len(self.instances):
            yield from items
            return
        for item in items:
            yield from self._through(self.instances[start].process(item), start + 1)

    def process(self, item) -> Iterator:
        yield from self._through((item,), 0)

    def flush(self) -> Iterator:
        for i, stage in enumerate(self.instances):
            yield from self._through(stage.flush(), i + 1)
