"""The Gadgetron/ISMRMRD stream protocol (what ``gadgetron_ismrmrd_client`` and Gadgetron speak).

Every message starts with a little-endian uint16 id. Acquisitions, waveforms and images are framed by
ismrmrd-python's own ``serialize_into``/``deserialize_from`` (byte-exact with the C++ library). The
header is written as the raw file's XML text, not re-serialised: ``ProtocolSerializer`` would run it
through ``toXML()``, which changes the bytes ``ismrmrd_hdf5_to_stream`` sends, and Gadgetron parses
what it receives. Reads go through :class:`SocketReader`, whose socket has a timeout, so no read can
block forever.

Sizes are checked before anything is allocated: an item's fixed header is read first and what it
claims (samples, channels, trajectory dimensions, image matrix) is held against :class:`Limits` --
the ISMRMRD header's own (receiver channels, encoded matrix) where the receiver knows them -- and the
bytes it needs against a :class:`MemoryBudget` shared by the server's connections; only then is the
payload read. A header of 65535 channels x 65535 samples (32 GiB) is refused after its 340 bytes.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from dataclasses import dataclass

import ismrmrd

CONFIG_FILE, CONFIG_TEXT, HEADER, CLOSE, TEXT = 1, 2, 3, 4, 5
ERROR = 8
ACQUISITION, IMAGE, WAVEFORM = 1008, 1022, 1026
CONFIG_FILE_SIZE = 1024
MAX_TEXT = 64 << 20  # a length beyond this is a corrupt stream, not a configuration or header
MAX_CHANNELS = 1024  # ISMRMRD's channel mask: 16 x 64 bits
MAX_TRAJECTORY_DIMENSIONS = 3  # kx, ky, kz
READOUT_FACTOR = 4  # a readout holds at most 4x the matrix's x: 2x oversampling, ramps, discarded samples
MAX_MESSAGE = 256 << 20  # one item, whatever the header says (a 1024-coil readout of 16384 samples is 128 MiB)
_ACQ_HEAD = ctypes.sizeof(ismrmrd.AcquisitionHeader)
_IMAGE_HEAD = ctypes.sizeof(ismrmrd.ImageHeader)
_WAVEFORM_HEAD = ctypes.sizeof(ismrmrd.WaveformHeader)


class ProtocolError(Exception):
    """The peer sent something that is not this protocol (or closed the connection mid-message)."""


class MessageTooLarge(ProtocolError):
    """A message claims more than the header's limits or the memory budget allow (refused before its payload)."""


@dataclass(frozen=True)
class Limits:
    """What one item may claim. The defaults bound a stream whose ISMRMRD header is not known (a
    client reading a server's images); :meth:`from_header` narrows them to the scan's own sizes."""

    channels: int = MAX_CHANNELS
    samples: int = 65535
    trajectory_dimensions: int = MAX_TRAJECTORY_DIMENSIONS
    message_bytes: int = MAX_MESSAGE

    @classmethod
    def from_header(cls, header) -> Limits:
        """Channels: ``receiverChannels`` where declared; samples: READOUT_FACTOR x the largest matrix x of
        the encodings (encoded or recon). A header without them keeps the defaults (the chain then
        refuses a header it cannot use)."""
        system = getattr(header, "acquisitionSystemInformation", None)
        channels = _positive(getattr(system, "receiverChannels", None)) or MAX_CHANNELS
        widths = [_positive(getattr(getattr(getattr(enc, space, None), "matrixSize", None), "x", None))
                  for enc in (getattr(header, "encoding", None) or []) for space in ("encodedSpace", "reconSpace")]
        widths = [w for w in widths if w]
        samples = min(65535, READOUT_FACTOR * max(widths)) if widths else 65535
        return cls(channels=min(channels, MAX_CHANNELS), samples=samples)


def _positive(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class MemoryBudget:
    """Bytes of received messages a server holds at once, over all its connections. Each connection
    reserves through its own :class:`Account` before a payload is read, and gives it all back when
    its scan ends; a message that does not fit is refused (``MessageTooLarge``) unread."""

    def __init__(self, total_bytes: int):
        self.total = int(total_bytes)
        self.used = 0
        self.lock = threading.Lock()

    def account(self) -> Account:
        return Account(self)


class Account:
    def __init__(self, budget: MemoryBudget):
        self.budget = budget
        self.held = 0

    def reserve(self, n: int, what: str) -> None:
        with self.budget.lock:
            left = self.budget.total - self.budget.used
            if n > left:
                raise MessageTooLarge(f"{what} needs {_mib(n)}, more than the server's memory budget has left "
                                      f"({_mib(left)} of {_mib(self.budget.total)})")
            self.budget.used += n
            self.held += n

    def release_all(self) -> None:
        with self.budget.lock:
            self.budget.used -= self.held
            self.held = 0


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


class DeadlineExceeded(TimeoutError):
    """A scan or one message took longer than its deadline (a client trickling bytes)."""


class SocketReader:
    """``read_exactly(n)`` over a socket that has a timeout (``socket.timeout`` ends a stuck read).

    The socket's timeout bounds each read; two optional deadlines bound the sum: ``deadline`` (an
    absolute ``time.monotonic()``, the whole scan) and ``idle_s`` (seconds for one whole message,
    counted from the moment :func:`read_message` starts waiting for it). A client sending one byte
    every few seconds passes every per-read timeout and is stopped by these."""

    def __init__(self, sock: socket.socket, deadline: float | None = None, idle_s: float | None = None,
                 limits: Limits | None = None, account: Account | None = None):
        self.sock = sock
        self.timeout_s = sock.gettimeout()
        self.deadline = deadline
        self.idle_s = idle_s
        self.message_deadline: float | None = None
        self.limits = limits or Limits()  # narrowed once the ISMRMRD header is known
        self.account = account  # the server's memory budget; None: only the limits bound a message
        self.deadline_name = "scan deadline"  # what ``deadline`` is, for the error (the server's handshake)

    def start_message(self) -> None:
        self.message_deadline = None if self.idle_s is None else time.monotonic() + self.idle_s

    def _arm(self) -> None:
        limits = [d for d in (self.deadline, self.message_deadline) if d is not None]
        if not limits:
            return
        left = min(limits) - time.monotonic()
        if left <= 0:
            what = self.deadline_name if self.deadline is not None and self.deadline == min(limits) else "idle timeout"
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
    for items, None for CLOSE. An unknown id raises ProtocolError (its length is unknown); a size beyond
    the reader's limits or budget raises MessageTooLarge before the payload is read. Texts lose the NUL
    terminator python-ismrmrd-server's clients append."""
    if hasattr(reader, "start_message"):
        reader.start_message()
    read = reader.read_exactly
    limits = getattr(reader, "limits", None) or Limits()
    account = getattr(reader, "account", None)

    def allow(n: int, what: str) -> None:
        if n > limits.message_bytes:
            raise MessageTooLarge(f"{what} claims {_mib(n)}, more than the {_mib(limits.message_bytes)} "
                                  "a message may hold")
        if account is not None:
            account.reserve(n, what)

    (message_id,) = struct.unpack("<H", read(2))
    if message_id == CLOSE:
        return CLOSE, None
    if message_id == CONFIG_FILE:
        return CONFIG_FILE, read(CONFIG_FILE_SIZE).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if message_id in (CONFIG_TEXT, HEADER, TEXT):
        (length,) = struct.unpack("<I", read(4))
        if length > MAX_TEXT:
            raise ProtocolError(f"message {message_id} claims {length} bytes")
        allow(length, f"message {message_id}")
        payload = bytes(read(length)).rstrip(b"\0")
        return message_id, payload if message_id == HEADER else payload.decode("utf-8", errors="replace")
    if message_id == ERROR:
        (length,) = struct.unpack("<Q", read(8))
        if length > MAX_TEXT:
            raise ProtocolError(f"ERROR message claims {length} bytes")
        return ERROR, read(length).decode("utf-8", errors="replace")
    if message_id == ACQUISITION:
        head_bytes = read(_ACQ_HEAD)
        head = ismrmrd.AcquisitionHeader.from_buffer_copy(head_bytes)
        n, channels, dims = head.number_of_samples, head.active_channels, head.trajectory_dimensions
        where = f"acquisition (scan_counter {head.scan_counter})"
        if channels > limits.channels:
            raise MessageTooLarge(f"{where} claims {channels} channels; the header allows {limits.channels}")
        if n > limits.samples:
            raise MessageTooLarge(f"{where} claims {n} samples; the header's matrix allows {limits.samples}")
        if dims > limits.trajectory_dimensions:
            raise MessageTooLarge(f"{where} claims {dims} trajectory dimensions "
                                  f"(at most {limits.trajectory_dimensions})")
        allow(n * (8 * channels + 4 * dims), where)
        return ACQUISITION, ismrmrd.Acquisition.deserialize_from(_after(read, head_bytes))
    if message_id == IMAGE:
        head_bytes = read(_IMAGE_HEAD)
        head = ismrmrd.ImageHeader.from_buffer_copy(head_bytes)
        if head.data_type not in _ITEM_SIZE:
            raise ProtocolError(f"image of unknown data type {head.data_type}")
        if head.channels > limits.channels:
            raise MessageTooLarge(f"image claims {head.channels} channels; the header allows {limits.channels}")
        (attributes,) = struct.unpack("<Q", read(8))
        if attributes > MAX_TEXT:
            raise ProtocolError(f"image claims {attributes} bytes of attributes")
        x, y, z = (int(v) for v in head.matrix_size)
        allow(attributes + _ITEM_SIZE[head.data_type] * head.channels * x * y * z, "image")
        return IMAGE, ismrmrd.Image.deserialize_from(_after(read, head_bytes, struct.pack("<Q", attributes)))
    if message_id == WAVEFORM:
        head_bytes = read(_WAVEFORM_HEAD)
        head = ismrmrd.WaveformHeader.from_buffer_copy(head_bytes)
        allow(4 * head.channels * head.number_of_samples, "waveform")
        return WAVEFORM, ismrmrd.Waveform.deserialize_from(_after(read, head_bytes))
    raise ProtocolError(f"unknown message id {message_id}")


_ITEM_SIZE = {ismrmrd.DATATYPE_USHORT: 2, ismrmrd.DATATYPE_SHORT: 2, ismrmrd.DATATYPE_UINT: 4, ismrmrd.DATATYPE_INT: 4,
              ismrmrd.DATATYPE_FLOAT: 4, ismrmrd.DATATYPE_DOUBLE: 8, ismrmrd.DATATYPE_CXFLOAT: 8,
              ismrmrd.DATATYPE_CXDOUBLE: 16}


def _after(read, *chunks: bytes):
    """``read`` for ismrmrd's ``deserialize_from`` that first hands back, in order, the bytes already read
    and checked (the fixed header; for an image also its attribute length)."""
    pending = list(reversed(chunks))

    def replay(n: int) -> bytes:
        if pending:
            chunk = pending.pop()
            if len(chunk) != n:
                raise ProtocolError(f"internal: expected a read of {len(chunk)} bytes, not {n}")
            return chunk
        return read(n)

    return replay


def one_line(text: str) -> str:
    return " ".join(str(text).split())
