"""``gadgetron-inr bench streaming``: latency of the streamed chain, per method and stack size.

A raw file is played in real time (``--speed``, default 1: acquisitions at their time stamps), once
per method (after one untimed warm-up scan), in one of two ways (``--via``):

- ``server`` (default): by the emulator to a loopback server in this process (``serve``), which
  reads a scan to its CLOSE before it reconstructs (docs/streaming.md, "Robustness");
- ``chain``: the readouts go straight into the chain in this process, one by one at their time, as a
  Gadgetron node receives them; the cine node reconstructs a slice while the next one arrives and
  hands each image over the moment it is made (``gadgets.slice_worker``). This is the latency a
  scanner sees from the chain itself.

``--slices N ...``: the first N slices of each file (a short-axis stack from ``simulate --slices``),
one run per N. ``--preview METHOD``: the chain also sends METHOD's images first, as a series of their
own (Reconstruction's ``preview``), and its latency is reported too.

Reported per slice: the time from its last readout to its first and its last image (and first
preview image), and per run the stack's figures from the scan's last readout: to the first image of
the last slice and to the last image of all (to the first preview image of the last slice). Writes
``streaming.md`` and ``streaming.json`` into ``--out-dir``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd

from pipelines.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_RAW = Path(__file__).parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"
TICK_S = 2.5e-3  # ISMRMRD time stamps count 2.5 ms ticks
PREVIEW_SERIES = 2  # ImageExport's preview_series_index default


@dataclass
class Arrivals:
    """When each slice's last readout went and each image came (monotonic seconds)."""

    last_sent: dict = field(default_factory=dict)  # slice -> time
    images: list = field(default_factory=list)  # (slice, series, time)


class FirstSlices:
    """The first ``count`` slices of a raw file (noise scan included), as a raw file of its own: the
    header's slice limit cut to match and ACQ_LAST_IN_MEASUREMENT on the last kept slice's last
    readout. The whole file when ``count`` is its slice count."""

    def __init__(self, raw, count: int):
        limit = raw.header.encoding[0].encodingLimits.slice
        slices = int(limit.maximum) + 1 if limit is not None and limit.maximum is not None else 1
        if not 1 <= count <= slices:
            raise UserError(f"{raw.path.name} has {slices} slice(s): --slices {count} is not possible "
                            "(make a stack with `gadgetron-inr simulate --slices N`)")
        self.raw, self.count, self.path, self.trajectory = raw, count, raw.path, raw.trajectory
        self.header, self.header_xml = raw.header, raw.header_xml
        if count < slices:
            header = ismrmrd.xsd.CreateFromDocument(raw.header_xml)
            header.encoding[0].encodingLimits.slice.maximum = count - 1
            self.header, self.header_xml = header, ismrmrd.xsd.ToXML(header).encode()

    def acquisitions(self):
        held = None
        for acq in self.raw.acquisitions():
            if not acq.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) and acq.idx.slice >= self.count:
                continue
            if held is not None:
                yield held
            held = acq
        if held is not None:
            held.set_flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
            yield held


def _properties(method: str, device: str, preset: str | None, preview: str | None) -> dict:
    from pipelines.benches.suite import method_properties

    properties = method_properties(method, device, preset)
    if preview:
        properties["preview"] = preview
    return properties


def via_server(raw, properties: dict, port: int, speed: float, realtime: bool, timeout_s: float) -> Arrivals:
    from pipelines.streaming import protocol
    from pipelines.streaming.emulator import chain_text, stream

    config = protocol.config_text(chain_text(raw.trajectory, properties))
    session = stream(raw, config, port=port, realtime=realtime, speed=speed, timeout_s=timeout_s)
    if session.errors:
        raise UserError(f"{raw.path.name} with {properties['method']}: {session.errors[0]}")
    series = [image.image_series_index for image in session.images]
    return Arrivals(dict(session.last_sent), [(s, k, t) for (s, t), k in zip(session.image_times, series,
                                                                                strict=True)])


def via_chain(raw, properties: dict, speed: float, realtime: bool) -> Arrivals:
    """The readouts into the chain in this process at their time stamps; images recorded as the cine
    node hands them over (from its worker thread, at once)."""
    from pipelines.streaming.emulator import chain_text
    from pipelines.streaming.host import Pipeline, flush_all, parse_config, through

    arrivals, lock = Arrivals(), threading.Lock()

    def record(item):
        if isinstance(item, ismrmrd.Image):
            with lock:
                arrivals.images.append((int(item.slice), int(item.image_series_index), time.monotonic()))

    gadgets = []
    for node in Pipeline(parse_config(chain_text(raw.trajectory, properties)), name="bench").nodes:
        gadget = node.gadget_class()()  # as Pipeline.build, with the cine node's images handed over at once
        if hasattr(gadget, "deliver_to"):
            gadget.deliver_to(record)
        gadget.setup(dict(node.properties), raw.header)
        gadgets.append(gadget)

    def timed():
        start = first = None
        for acq in raw.acquisitions():
            if realtime:
                stamp = acq.acquisition_time_stamp
                if start is None:
                    start, first = time.monotonic(), stamp
                delay = start + (stamp - first) * TICK_S / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield acq
            if not acq.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT):
                arrivals.last_sent[int(acq.idx.slice)] = time.monotonic()

    for item in through(gadgets, timed(), 0):
        record(item)
    for item in flush_all(gadgets):
        record(item)
    return arrivals


def rows_of(raw, method: str, preset: str, arrivals: Arrivals, slices: int, via: str) -> list[dict]:
    rows = []
    for slice_, sent in sorted(arrivals.last_sent.items()):
        images = [t for s, k, t in arrivals.images if s == slice_ and k != PREVIEW_SERIES]
        previews = [t for s, k, t in arrivals.images if s == slice_ and k == PREVIEW_SERIES]
        if not images:
            raise UserError(f"{raw.path.name} with {method}: no image for slice {slice_}")
        rows.append({"file": raw.path.name, "via": via, "method": method, "preset": preset, "slices": slices,
                     "slice": slice_, "images": len(images), "first_image_s": min(images) - sent,
                     "last_image_s": max(images) - sent,
                     "first_preview_s": min(previews) - sent if previews else None})
    return rows


def stack_row(rows: list[dict], arrivals: Arrivals) -> dict:
    """The stack from its last readout: the last slice's first image (and preview), the last image."""
    end = max(arrivals.last_sent.values())
    last = rows[-1]
    images = [t for _, k, t in arrivals.images if k != PREVIEW_SERIES]
    return {**{k: last[k] for k in ("file", "via", "method", "preset", "slices")}, "slice": "all",
            "images": sum(r["images"] for r in rows), "first_image_s": last["first_image_s"],
            "last_image_s": max(images) - end, "first_preview_s": last["first_preview_s"]}


def measure(raw, method: str, port: int | None, device: str = "auto", speed: float = 1.0, realtime: bool = True,
            timeout_s: float = 600.0, preset: str | None = None, preview: str | None = None,
            slices: int | None = None) -> list:
    """Rows for one scan of ``raw`` (its first ``slices`` slices): per slice, then for the stack.
    ``port`` None: via the chain in this process; else via the loopback server on that port."""
    properties = _properties(method, device, preset, preview)
    used = properties.get("preset", "default")
    if slices is not None:
        raw = FirstSlices(raw, slices)
    count = slices or 1
    if port is None:
        arrivals, via = via_chain(raw, properties, speed, realtime), "chain"
    else:
        arrivals, via = via_server(raw, properties, port, speed, realtime, timeout_s), "server"
    rows = rows_of(raw, method, used, arrivals, count, via)
    return rows + ([stack_row(rows, arrivals)] if len(rows) > 1 else [])


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(rows: list[dict]) -> str:
    previews = any(r.get("first_preview_s") is not None for r in rows)
    head = "| file | via | method | slices | slice | images | last readout -> first image (s) | -> last image (s) |"
    lines = [head + (" -> first preview (s) |" if previews else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if previews else "")]
    for r in rows:
        line = (f"| {r['file']} | {r['via']} | {r['method']} | {r['slices']} | {r['slice']} | {r['images']} | "
                f"{_seconds(r['first_image_s'])} | {_seconds(r['last_image_s'])} |")
        lines.append(line + (f" {_seconds(r.get('first_preview_s'))} |" if previews else ""))
    return "\n".join(lines) + "\n"


def run_streaming(args) -> int:
    from pipelines.benches.suite import check_methods, warn_unused_preset

    check_methods(args.methods)
    preset = getattr(args, "preset", None)
    preview = getattr(args, "preview", None)
    if preview:
        check_methods([preview])
    warn_unused_preset(args.methods, preset)
    from pipelines.files.ismrmrd_io import open_raw
    from pipelines.streaming.server import Server

    files = [open_raw(p) for p in (args.raw or [DEFAULT_RAW])]
    counts = getattr(args, "slices", None) or [None]
    for count in counts:
        if count is not None and count < 1:
            raise UserError(f"--slices must be at least 1, got {count}")
    for raw in files:  # a stack too small for a count fails now, not after minutes of benchmarks
        for count in counts:
            if count is not None:
                FirstSlices(raw, count)
    speed = getattr(args, "speed", 1.0)
    via = getattr(args, "via", "server")
    rows = []
    server = Server("127.0.0.1", 0, timeout_s=600).start() if via == "server" else None
    port = None if server is None else server.port
    try:
        # One untimed scan first: imports and first-call set-up belong to starting the server, not to a scan.
        measure(files[0], args.methods[0], port, args.device, realtime=False, preset=preset, preview=preview,
                slices=1 if counts[0] is not None else None)
        for raw in files:
            for count in counts:
                for method in args.methods:
                    log.info("bench streaming: %s%s with %s via %s", raw.path.name,
                             f", {count} slice(s)" if count else "", method, via)
                    rows.extend(measure(raw, method, port, args.device, speed, preset=preset, preview=preview,
                                        slices=count))
    finally:
        if server is not None:
            server.stop()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown(rows)
    (out_dir / "streaming.md").write_text(table)
    (out_dir / "streaming.json").write_text(json.dumps(rows, indent=2))
    sys.stdout.write(table)
    return 0
