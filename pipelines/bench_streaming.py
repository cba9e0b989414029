"""``gadgetron-inr bench streaming``: latency of the streamed chain, per method.

A raw file is played in real time (``--speed``, default 1: acquisitions at their time stamps) by
the emulator to a loopback server in this process (warmed up by one untimed scan), once per method.
Reported per slice: the time from sending its last acquisition to the arrival of its first image
and of its last image -- what a scanner operator waits for after the slice ends. Cine methods
reconstruct all phases of a slice only once its last readout is in, so the first-image latency is
the slice's reconstruction time plus the transfer. Writes ``streaming.md`` and ``streaming.json``
into ``--out-dir``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from pipelines.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_RAW = Path(__file__).parents[1] / "sample_data" / "cine_tiny_ktuniform_R4.h5"


def measure(raw, method: str, port: int, device: str = "auto", speed: float = 1.0, realtime: bool = True,
            timeout_s: float = 600.0, preset: str | None = None) -> list:
    from pipelines.bench import method_properties
    from pipelines.streaming import protocol
    from pipelines.streaming.emulator import chain_text, stream

    properties = method_properties(method, device, preset)
    used = properties.get("preset", "default")
    config = protocol.config_text(chain_text(raw.trajectory, properties))
    session = stream(raw, config, port=port, realtime=realtime, speed=speed, timeout_s=timeout_s)
    if session.errors:
        raise UserError(f"{raw.path.name} with {method}: {session.errors[0]}")
    rows = []
    for slice_, sent in sorted(session.last_sent.items()):
        arrivals = [t for s, t in session.image_times if s == slice_]
        if not arrivals:
            raise UserError(f"{raw.path.name} with {method}: no image for slice {slice_}")
        rows.append({"file": raw.path.name, "method": method, "preset": used, "slice": slice_, "images": len(arrivals),
                     "first_image_s": min(arrivals) - sent, "last_image_s": max(arrivals) - sent})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| file | method | slice | images | last readout -> first image (s) | -> last image (s) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['file']} | {r['method']} | {r['slice']} | {r['images']} | {r['first_image_s']:.2f} | "
              f"{r['last_image_s']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


def run_streaming(args) -> int:
    from pipelines.bench import check_methods, warn_unused_preset

    check_methods(args.methods)
    preset = getattr(args, "preset", None)
    warn_unused_preset(args.methods, preset)
    from pipelines.ismrmrd_io import open_raw
    from pipelines.streaming.server import Server

    files = [open_raw(p) for p in (args.raw or [DEFAULT_RAW])]
    speed = getattr(args, "speed", 1.0)
    rows = []
    server = Server("127.0.0.1", 0, timeout_s=600).start()
    try:
        # One untimed scan first: imports and first-call set-up belong to starting the server, not to a scan.
        measure(files[0], args.methods[0], server.port, args.device, realtime=False, preset=preset)
        for raw in files:
            for method in args.methods:
                log.info("bench streaming: %s with %s", raw.path.name, method)
                rows.extend(measure(raw, method, server.port, args.device, speed, preset=preset))
    finally:
        server.stop()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown(rows)
    (out_dir / "streaming.md").write_text(table)
    (out_dir / "streaming.json").write_text(json.dumps(rows, indent=2))
    sys.stdout.write(table)
    return 0
