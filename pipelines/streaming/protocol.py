"""The Gadgetron/ISMRMRD stream protocol (what ``gadgetron_ismrmrd_client`` and Gadgetron speak).

Every message starts with a little-endian uint16 id. Acquisitions, waveforms and images are framed by
ismrmrd-python's own ``serialize_into``/``deserialize_from`` (byte-exact with the C++ library). The
header is written as the raw file's XML text, not re-serialised: ``ProtocolSerializer`` would run it
through ``toXML()``, which changes the bytes ``ismrmrd_hdf5_to_stream`` sends, and Gadgetron parses
what it receives. Reads go through :class:`SocketReader`, whose socket has a timeout, so no read can
block forever.
"""

from __future__ import annotations

import socket
import struct
import time

import ismrmrd

CONFIG_FILE, CONFIG_TEXT, HEADER, CLOSE, TEXT = 1, 2, 3, 4, 5
ERROR = 8
ACQUISITION, IMAGE, WAVEFORM = 1008, 1022, 1026
CONFIG_FILE_SIZE = 1024
MAX_TEXT = 64 << 20  # a length beyond this is a corrupt stream, not a configuration or header


class ProtocolError(Exception):
    """The peer sent something that is not this protocol (or closed the connection mid-message)."""


class DeadlineExceeded(TimeoutError):
    """A scan or one message took longer than its deadline (a client trickling bytes)."""


class SocketReader:
    """``read_exactly(n)`` over a socket that has a timeout (``socket.timeout`` ends a stuck read).

    The socket's timeout bounds each read; two optional deadlines bound the sum: ``deadline`` (an
    absolute ``time.monotonic()``, the whole scan) and ``idle_s`` (seconds for one whole message,
    counted from the moment :func:`read_message` starts waiting for it). A client sending one byte
    every few seconds passes every per-read timeout and is stopped by these."""

    def __init__(self, sock: socket.socket, deadline: float | None = None, idle_s: float | None = None):
        self.sock = sock
        self.timeout_s = sock.gettimeout()
        self.deadline = deadline
        self.idle_s = idle_s
        self.message_deadline: float | None = None

    def start_message(self) -> None:
        self.message_deadline = None if self.idle_s is None else time.monotonic() + self.idle_s

    def _arm(self) -> None:
        limits = [d for d in (self.deadline, self.message_deadline) if d is not None]
        if not limits:
            return
        left = min(limits) - time.monotonic()
        if left <= 0:
            what = "scan deadline" if self.deadline is not None and self.deadline == min(limits) else "idle timeout"
            raise DeadlineExceeded(f"{what} passed")
        self.sock.settimeout(left if self.timeout_s is None else min(self.timeout_s, left))

    def read_exactly(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            self._arm()
            try:
                chunk = self.sock.recv(min(n - got, 1 << 20))
            except TimeoutError:
                self._arm()  # a deadline that fell inside this read says so
                raise
            if not chunk:
                raise EOFError(f"connection closed after {got} of {n} bytes")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


# -- writing ------------------------------------------------------------------------------------
def _text(message_id: int, text: str | bytes) -> bytes:
    payload = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return struct.pack("<HI", message_id, len(payload)) + payload


def config_file(name: str) -> bytes:
    encoded = name.encode("utf-8")
    if len(encoded) >= CONFIG_FILE_SIZE:
        raise ValueError(f"configuration name longer than {CONFIG_FILE_SIZE - 1} bytes")
    return struct.pack("<H", CONFIG_FILE) + encoded.ljust(CONFIG_FILE_SIZE, b"\0")


def config_text(xml: str | bytes) -> bytes:
    return _text(CONFIG_TEXT, xml)


def header(xml: str | bytes) -> bytes:
    return _text(HEADER, xml)


def text(message: str) -> bytes:
    return _text(TEXT, message)


def close() -> bytes:
    return struct.pack("<H", CLOSE)


def item(obj) -> bytes:
    """An acquisition, waveform or image, with its id."""
    ids = {ismrmrd.Acquisition: ACQUISITION, ismrmrd.Image: IMAGE, ismrmrd.Waveform: WAVEFORM}
    message_id = ids.get(type(obj))
    if message_id is None:
        raise TypeError(f"cannot send a {type(obj).__name__} on the ISMRMRD stream")
    parts = [struct.pack("<H", message_id)]
    obj.serialize_into(parts.append)
    return b"".join(parts)


# -- reading ------------------------------------------------------------------------------------
def read_message(reader: SocketReader):
    """One message as ``(id, payload)``: str for config/text, bytes for the header, ismrmrd objects
    for items, None for CLOSE. An unknown id raises ProtocolError (its length is unknown)."""
    if hasattr(reader, "start_message"):
        reader.start_message()
    read = reader.read_exactly
    (message_id,) = struct.unpack("<H", read(2))
    if message_id == CLOSE:
        return CLOSE, None
    if message_id == CONFIG_FILE:
        return CONFIG_FILE, read(CONFIG_FILE_SIZE).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if message_id in (CONFIG_TEXT, HEADER, TEXT):
        (length,) = struct.unpack("<I", read(4))
        if length > MAX_TEXT:
            raise ProtocolError(f"message {message_id} claims {length} bytes")
        payload = read(length)
        return message_id, payload if message_id == HEADER else payload.decode("utf-8", errors="replace")
    if message_id == ERROR:
        (length,) = struct.unpack("<Q", read(8))
        if length > MAX_TEXT:
            raise ProtocolError(f"ERROR message claims {length} bytes")
        return ERROR, read(length).decode("utf-8", errors="replace")
    if message_id == ACQUISITION:
        return ACQUISITION, ismrmrd.Acquisition.deserialize_from(read)
    if message_id == IMAGE:
        return IMAGE, ismrmrd.Image.deserialize_from(read)
    if message_id == WAVEFORM:
        return WAVEFORM, ismrmrd.Waveform.deserialize_from(read)
    raise ProtocolError(f"unknown message id {message_id}")


def one_line(text: str) -> str:
    return " ".join(str(text).split())
