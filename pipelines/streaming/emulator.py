"""``gadgetron-inr emulate``: play a raw file to a Gadgetron server the way a scanner (or
``gadgetron_ismrmrd_client``) does, and write the images that come back.

Protocol: configuration (name, message 1, or XML text, message 2), header (3), acquisitions (1008)
with waveforms (1026) merged in by time stamp, CLOSE (4). Replies (images 1022, text 5, CLOSE) are
read on a second thread, because a server sends images while it still receives data. A TEXT message
is how Gadgetron reports an error (several lines, and only once the whole stream has ended): the
run ends with that text and exit status 2.
``--realtime`` sends each readout at its time stamp (ISMRMRD ticks of 2.5 ms), divided by ``--speed``.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import ismrmrd
import numpy as np

from pipelines.errors import UserError
from pipelines.files.ismrmrd_io import read_h5
from pipelines.streaming import protocol

log = logging.getLogger(__name__)

TICK_S = 2.5e-3  # ISMRMRD time stamps count 2.5 ms ticks (Siemens convention, used by Gadgetron)


@dataclass
class Session:
    """What one streamed scan gave back, with monotonic times for latency measurements."""

    images: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    closed: bool = False
    last_sent: dict = field(default_factory=dict)  # slice -> time its last acquisition was sent
    image_times: list = field(default_factory=list)  # (slice, arrival time) per image


# -- what to send ---------------------------------------------------------------------------------
def chain_text(trajectory: str, overrides: dict[str, str], settings_file=None) -> bytes:
    """The project's chain for ``trajectory`` with a settings file's values, then ``overrides``, written
    into the node that declares each (``pipelines.streaming.host.Pipeline.override``: checked, an unknown key
    refused), as configuration text (Gadgetron needs nothing else installed to run it)."""
    from pipelines.streaming.host import Pipeline, default_pipeline, resolve_config

    path = resolve_config(default_pipeline(trajectory))
    pipeline = Pipeline.load(str(path), overrides, settings_file)
    root = ElementTree.parse(path).getroot()
    # <external> elements in document order are the pipeline's leaves in stream order.
    for element, leaf in zip(root.iter("external"), pipeline.leaves, strict=True):
        config = element.find("configuration")
        if config is None:
            config = ElementTree.SubElement(element, "configuration")
        for key, value in leaf.properties.items():
            prop = config.find(f"property[@name='{key}']")
            if prop is None:
                prop = ElementTree.SubElement(config, "property", name=key)
            prop.set("value", value)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def read_waveforms(path: Path, group: str) -> list:
    """Waveforms stored with the raw data (``/<group>/waveforms``), or none."""
    with read_h5(path, "raw file") as f:
        if "waveforms" not in f[group]:
            return []
        rows = f[group]["waveforms"][()]
    waveforms = []
    for row in rows:
        wav = ismrmrd.Waveform(row["head"])
        wav.data[:] = np.asarray(row["data"], np.uint32).reshape(wav.data.shape)
        waveforms.append(wav)
    return waveforms


def timeline(raw, waveforms):
    """Acquisitions and waveforms in time-stamp order, the file's order kept within each kind. On equal
    stamps the waveform goes first, as ``ismrmrd_hdf5_to_stream`` does (it sends an acquisition only
    when its stamp is strictly smaller)."""
    acqs = ((a.acquisition_time_stamp, 1, i, a) for i, a in enumerate(raw.acquisitions()))
    wavs = ((w.time_stamp, 0, i, w) for i, w in enumerate(sorted(waveforms, key=lambda w: w.time_stamp)))
    for stamp, _, _, obj in heapq.merge(acqs, wavs, key=lambda e: (e[0], e[1], e[2])):
        yield stamp, obj


# -- the client -----------------------------------------------------------------------------------
def stream(raw, config: bytes, host: str = "127.0.0.1", port: int = 9002, realtime: bool = False,
           speed: float = 1.0, timeout_s: float = 120.0, waveforms=()) -> Session:
    """Send one scan; return when the server has closed (or raise UserError on a timeout).

    ``config`` is a ready message (``protocol.config_file``/``config_text``)."""
    session = Session()
    failed = threading.Event()
    try:
        sock = socket.create_connection((host, port), timeout=min(timeout_s, 30.0))
    except OSError as exc:
        raise UserError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    sock.settimeout(timeout_s)

    def receive():
        reader = protocol.SocketReader(sock)
        try:
            while True:
                message_id, payload = protocol.read_message(reader)
                if message_id == protocol.CLOSE:
                    session.closed = True
                    return
                if message_id == protocol.IMAGE:
                    session.images.append(payload)
                    session.image_times.append((payload.slice, time.monotonic()))
                elif message_id in (protocol.TEXT, protocol.ERROR):
                    # Gadgetron's text spans lines ("[...] ERROR: Errors received: \n<node's text>\n"):
                    # kept as sent, only its blank lines dropped.
                    session.errors.append("\n".join(line.rstrip() for line in payload.splitlines() if line.strip()))
                    failed.set()
                else:
                    log.debug("ignoring message %d from the server", message_id)
        except Exception as exc:  # noqa: BLE001 - a lost connection is reported by the caller
            if not session.errors:
                session.errors.append(f"connection lost: {protocol.one_line(exc) or type(exc).__name__}")
            failed.set()

    receiver = threading.Thread(target=receive, name="emulator-receive", daemon=True)
    with contextlib.closing(sock):
        receiver.start()
        try:
            sock.sendall(config + protocol.header(raw.header_xml))
            start = first = None
            for stamp, obj in timeline(raw, waveforms):
                if failed.is_set():
                    break  # the server gave up on the scan; sending more is pointless
                if realtime:
                    if start is None:
                        start, first = time.monotonic(), stamp
                    delay = start + (stamp - first) * TICK_S / speed - time.monotonic()
                    if delay > 0:
                        failed.wait(delay)
                sock.sendall(protocol.item(obj))
                if isinstance(obj, ismrmrd.Acquisition):
                    session.last_sent[obj.idx.slice] = time.monotonic()
            sock.sendall(protocol.close())
        except OSError as exc:
            # The server closed on us (after an error text, which the receiver reports) or vanished.
            log.debug("sending stopped: %s", exc)
        receiver.join(timeout=timeout_s)
        if receiver.is_alive():
            raise UserError(f"no answer from {host}:{port} within {timeout_s:g} s")
    return session


# -- command --------------------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("raw", help="ISMRMRD raw file (HDF5)")
    parser.add_argument("--host", default="127.0.0.1", help="Gadgetron server (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9002, help="port (default 9002)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--method", help="the project's chain for the file's trajectory with this method, "
                                        "sent as configuration text (default: the chain's own method)")
    which.add_argument("--config", help="a configuration name the server knows (e.g. cartesian.xml), sent by name")
    which.add_argument("--config-file", type=Path, help="a stream configuration .xml file, sent as text")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="with the project's chain: a setting of the chain or the method (repeatable)")
    parser.add_argument("--settings", metavar="FILE.yaml",
                        help="with the project's chain: settings from a YAML file; --set overrides them")
    parser.add_argument("--realtime", action="store_true", help="pace acquisitions by their time stamps")
    parser.add_argument("--speed", type=float, default=1.0, help="with --realtime: play this many times faster")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the server (default 300)")
    parser.add_argument("-o", "--output", required=True, help="output ISMRMRD image file (HDF5)")


def config_message(args, trajectory: str) -> bytes:
    from pipelines.streaming.host import parse_overrides

    overrides = parse_overrides(args.overrides)
    settings_file = getattr(args, "settings", None)
    if (args.config or args.config_file) and (overrides or settings_file):
        raise UserError("--set and --settings apply to the project's chain; they cannot change --config or "
                        "--config-file")
    if args.config:
        return protocol.config_file(args.config)
    if args.config_file:
        if not args.config_file.is_file():
            raise UserError(f"configuration file {str(args.config_file)!r} does not exist")
        return protocol.config_text(args.config_file.read_bytes())
    if args.method:
        overrides["method"] = args.method
    return protocol.config_text(chain_text(trajectory, overrides, settings_file))


def server_error(server: str, errors: list[str]) -> str:
    """The message for the server's error text: one line naming the server, then the text as sent
    (a one-line text stays on that line)."""
    text = "\n".join(errors)
    if "\n" not in text:
        return f"server {server}: {text}"
    return f"server {server} reported an error:\n{text}"


def run(args) -> int:
    from pipelines.files.ismrmrd_io import open_raw, write_images

    if Path(args.output).resolve() == Path(args.raw).resolve():
        raise UserError(f"the output {args.output!r} is the raw input file: choose another name")
    if args.speed <= 0:
        raise UserError("--speed must be positive")
    raw = open_raw(args.raw, check_data=False)  # the header, for the chain
    config = config_message(args, raw.trajectory)  # settings checked before the data are read
    raw.check_data(keep=True)  # decoded once: stream() sends these
    session = stream(raw, config, args.host, args.port, args.realtime, args.speed,
                     args.timeout, read_waveforms(raw.path, raw.group))
    if session.errors:
        raise UserError(server_error(f"{args.host}:{args.port}", session.errors))
    if not session.closed:
        raise UserError(f"server {args.host}:{args.port} closed the connection without finishing the scan")
    count = write_images(args.output, session.images, raw.header_xml)
    print(f"wrote {count} images to {args.output}", file=sys.stderr)
    return 0
