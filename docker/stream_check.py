"""Stream raw files to a Gadgetron server with the emulator and compare the images that come back
with the embedded host's replay of the same file and method (computed here, in this process).

    python docker/stream_check.py --host gadgetron --port 9002 sample_data/

Pass: relative L2 ||served - replayed|| / ||replayed|| <= --tolerance (0.01, as Gadgetron's own
integration tests) for every file and method, and no server error. Exit status 0 on pass, 1 on
any failure. The report goes to stdout (this is a test driver, not a gadget).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import numpy as np

from pipelines.errors import UserError
from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, stream
from pipelines.streaming.host import Pipeline, default_pipeline


def stacked(images) -> np.ndarray:
    ordered = sorted(images, key=lambda i: (i.image_series_index, i.slice, i.phase, i.repetition))
    return np.stack([np.asarray(i.data) for i in ordered]) if ordered else np.zeros(0)


def relative_l2(got, expected) -> float:
    a, b = stacked(got), stacked(expected)
    if a.shape != b.shape:
        return float("inf")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def wait_for(host: str, port: int, wait_s: float) -> None:
    """Gadgetron takes a few seconds to listen after its container starts."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            socket.create_connection((host, port), timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise UserError(f"nothing listens on {host}:{port} after {wait_s:g} s") from None
            time.sleep(1)


def check(paths, methods, host, port, tolerance, timeout_s) -> list[tuple[str, str, float, str]]:
    rows = []
    for path in paths:
        raw = open_raw(path)
        for method in methods:
            config = protocol.config_text(chain_text(raw.trajectory, {"method": method}))
            try:
                session = stream(raw, config, host, port, timeout_s=timeout_s)
            except UserError as exc:
                rows.append((path.name, method, float("inf"), str(exc)))
                continue
            if session.errors:
                rows.append((path.name, method, float("inf"), session.errors[0]))
                continue
            pipeline = Pipeline.load(default_pipeline(raw.trajectory), {"method": method})
            expected = list(pipeline.run(raw.header, raw.acquisitions()))
            error = relative_l2(session.images, expected)
            rows.append((path.name, method, error, "ok" if error <= tolerance else f"relative L2 > {tolerance:g}"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="raw files or folders of *.h5 raw files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument("--methods", default="zero-filled,cg-sense", help="comma-separated methods")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the server to listen")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per scan")
    args = parser.parse_args(argv)
    paths = [p for i in args.inputs for p in (sorted(i.glob("*.h5")) if i.is_dir() else [i])]
    try:
        wait_for(args.host, args.port, args.wait)
        rows = check(paths, [m.strip() for m in args.methods.split(",") if m.strip()], args.host, args.port,
                     args.tolerance, args.timeout)
    except UserError as exc:
        print(f"stream_check: error: {exc}", file=sys.stderr)
        return 1
    for name, method, error, status in rows:
        print(f"{name:40s} {method:14s} {error:10.2e}  {status}")
    return 0 if rows and all(status == "ok" for *_, status in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
