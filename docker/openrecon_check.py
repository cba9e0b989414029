"""Run the labelled image as OpenRecon would and check its label's parameters end to end.

    python docker/openrecon_check.py [--image localhost/gadgetron-inr:local] [--raw RAW.h5]

Starts `gadgetron-inr serve` in the image (podman, host network, a free loopback port), reads the
image's own label, and streams the raw file three times, each with the scanner UI's values sent as
a configAdditional TEXT message (`{"parameters": {...}}`): the label's defaults with `method`
zero-filled, which must equal the embedded host's replay of the same settings (relative L2 <= 0.01);
a misspelt id, which must come back as an error text and a clean close; the first again, which the
same server must serve. Prints one line per scan; exit status 0 when all three hold. Needs root
podman and the image (docs/containers.md); a test driver, so it reports on stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pipelines.commands.openrecon_label import LABEL_KEY
from pipelines.files.ismrmrd_io import open_raw
from pipelines.streaming import protocol
from pipelines.streaming.emulator import stream
from pipelines.streaming.host import Pipeline

ROOT = Path(__file__).resolve().parents[1]
NAME = "gadgetron-inr-openrecon-check"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_label(image: str) -> dict:
    found = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, timeout=60,
                           check=True)
    return json.loads(base64.b64decode(json.loads(found.stdout)[0]["Labels"][LABEL_KEY]))


def wait_listening(port: int, wait_s: float) -> float:
    started = time.monotonic()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return time.monotonic() - started
        except OSError:
            if time.monotonic() - started > wait_s:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {wait_s:g} s") from None
            time.sleep(0.5)


def scan(raw, chain: str, parameters: dict, port: int, timeout_s: float):
    config = protocol.config_file(chain) + protocol.text(json.dumps({"parameters": parameters}))
    started = time.monotonic()
    return stream(raw, config, port=port, timeout_s=timeout_s), time.monotonic() - started


def relative_l2(got, expected) -> float:
    def stacked(images):
        return np.stack([np.asarray(i.data) for i in sorted(images, key=lambda i: (i.image_series_index, i.slice,
                                                                                    i.phase))])
    if len(got) != len(expected):
        return float("inf")
    a, b = stacked(got), stacked(expected)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="localhost/gadgetron-inr:local")
    parser.add_argument("--raw", type=Path, default=ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per scan")
    args = parser.parse_args(argv)

    label = image_label(args.image)
    ui = {p["id"]: p["default"] for p in label["parameters"]}
    ui["method"] = "zero-filled"  # a fast method; the other values are the label's defaults
    chain = ui["config"]
    raw = open_raw(args.raw)
    expected = list(Pipeline.load(chain, {k: v for k, v in ui.items() if k != "config"})
                    .run(raw.header, raw.acquisitions()))
    port = free_port()
    subprocess.run(["podman", "rm", "-f", NAME], capture_output=True, timeout=60)
    subprocess.run(["podman", "run", "-d", "--name", NAME, "--network", "host", "--entrypoint", "gadgetron-inr",
                    args.image, "serve", "--host", "127.0.0.1", "--port", str(port)],
                   check=True, capture_output=True, timeout=120)
    ok = []
    try:
        print(f"serve listening after {wait_listening(port, 120):.1f} s; UI values {ui}")
        for case, parameters in (("label defaults, zero-filled", ui), ("misspelt id", {"methd": "x"}),
                                 ("the next scan", ui)):
            session, seconds = scan(raw, chain, parameters, port, args.timeout)
            if parameters is ui:
                error = relative_l2(session.images, expected)
                ok.append(not session.errors and error <= 0.01)
                print(f"{case}: {len(session.images)} images in {seconds:.1f} s, relative L2 vs replay {error:.2e}"
                      + (f", error {session.errors[0]!r}" if session.errors else ""))
            else:
                ok.append(bool(session.errors) and session.closed and not session.images)
                print(f"{case}: error text {session.errors[0] if session.errors else None!r}, "
                      f"closed {session.closed}, {len(session.images)} images")
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "2", NAME], capture_output=True, timeout=60)
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
