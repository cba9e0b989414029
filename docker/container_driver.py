"""The test driver of tests/containers/, run inside the image (its own container, on the host's
loopback next to a Gadgetron container): one case per call, one JSON object on stdout. It measures
and reports; the pass/fail decisions are the host test's.

    python docker/container_driver.py stream RAW --client ismrmrd-client --config cartesian.xml --port 9002
    python docker/container_driver.py fail RAW --fail-after 20 --port 9002

``stream``: send RAW with ``gadgetron_ismrmrd_client`` or ``gadgetron-inr emulate`` and a configuration
known to the server by name, run ``gadgetron-inr replay`` with the same file from Gadgetron's config
folder (``--reference-config`` names another where the embedded host cannot run the first, e.g. a
<connect> node), and give each series' relative L2 ||served - replayed|| / ||replayed||.
``fail``: the Cartesian chain (zero-filled, so it is quick) with ``gadgets.fault.FailAfter`` after its
first node, streamed in-process (seconds until the error arrives, its text), then sent with
``gadgetron-inr emulate`` (exit status, seconds, its error text).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from pipelines.files.ismrmrd_io import read_images

CONFIG_DIR = Path(os.environ.get("CONDA_PREFIX", "/opt/conda/envs/gadgetron")) / "share" / "gadgetron" / "config"
FAST = {"method": "zero-filled", "device": "cpu"}


def run(command: list[str], timeout_s: float) -> dict:
    started = time.monotonic()
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = "timeout", exc.stdout or "", f"{command[0]} still running after {timeout_s:g} s"
        out, err = (out.decode(errors="replace") if isinstance(out, bytes) else out), err
    return {"rc": rc, "seconds": round(time.monotonic() - started, 2), "stdout": out[-2000:], "stderr": err[-4000:]}


def series_l2(got: Path, expected: Path) -> dict:
    """Per series (keyed by ``image_<index>``: the group name differs between writers): images and
    relative L2 over the images ordered by their header, or why they cannot be compared."""
    got_by = {s.name.rsplit("/", 1)[1]: s for s in read_images(got)}
    result = {}
    for ref in read_images(expected):
        key = ref.name.rsplit("/", 1)[1]
        out = got_by.pop(key, None)
        if out is None:
            result[key] = {"images": 0, "rel_l2": None, "why": "missing from the served file"}
            continue
        if out.data.shape != ref.data.shape:
            result[key] = {"images": len(out.headers), "rel_l2": None,
                           "why": f"shape {out.data.shape} != replay's {ref.data.shape}"}
            continue
        fields = ("slice", "set", "contrast", "repetition", "phase", "image_index")
        o = np.lexsort(tuple(out.headers[f] for f in reversed(fields)))
        r = np.lexsort(tuple(ref.headers[f] for f in reversed(fields)))
        a, b = out.data[o].astype(np.complex128).ravel(), ref.data[r].astype(np.complex128).ravel()
        result[key] = {"images": len(ref.headers), "rel_l2": float(np.linalg.norm(a - b) / np.linalg.norm(b))}
    for key, out in got_by.items():
        result[key] = {"images": len(out.headers), "rel_l2": None, "why": "not in replay's file"}
    return result


def stream(args, work: Path) -> dict:
    output, reference = work / "served.h5", work / "replayed.h5"
    if args.client == "ismrmrd-client":
        copy = work / "input.h5"  # the client locks its input file
        shutil.copy(args.raw, copy)
        command = ["gadgetron_ismrmrd_client", "-a", args.host, "-p", str(args.port), "-f", str(copy),
                   "-o", str(output), "-c", args.config, "-G", "out"]
    else:
        command = ["gadgetron-inr", "emulate", str(args.raw), "--host", args.host, "--port", str(args.port),
                   "--config", args.config, "--timeout", str(args.timeout), "-o", str(output)]
    report = {"client": run(command, args.timeout)}
    report["replay"] = run(["gadgetron-inr", "replay", str(args.raw), "--pipeline",
                            str(CONFIG_DIR / (args.reference_config or args.config)), "--no-progress",
                            "-o", str(reference)], args.timeout)
    if output.is_file() and reference.is_file():
        report["series"] = series_l2(output, reference)
    return report


def failing_chain(fail_after: int) -> bytes:
    root = ElementTree.parse(CONFIG_DIR / "cartesian.xml").getroot()
    chain = root.find("stream")
    for prop in chain.iter("property"):
        if prop.get("name") in FAST:
            prop.set("value", FAST[prop.get("name")])
    node = ElementTree.Element("external")
    ElementTree.SubElement(node, "execute", name="gadgets.fault", target="FailAfter", type="python")
    ElementTree.SubElement(ElementTree.SubElement(node, "configuration"), "property", name="fail_after",
                           value=str(fail_after))
    chain.insert(1, node)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def fail(args, work: Path) -> dict:
    """The error's arrival timed in-process (as a scanner's client sees it, without this process's
    start-up), then the command-line client's exit status and text."""
    from pipelines.errors import UserError
    from pipelines.files.ismrmrd_io import open_raw
    from pipelines.streaming import protocol
    from pipelines.streaming.emulator import stream as send

    config, output = work / "failing.xml", work / "served.h5"
    config.write_bytes(failing_chain(args.fail_after))
    raw = open_raw(args.raw)
    started = time.monotonic()
    try:
        session = send(raw, protocol.config_text(config.read_bytes()), args.host, args.port, timeout_s=args.timeout)
        errors = session.errors
    except UserError as exc:
        errors = [f"no error from the server: {exc}"]
    in_process = {"seconds": round(time.monotonic() - started, 2), "errors": errors}
    report = run(["gadgetron-inr", "emulate", str(args.raw), "--host", args.host, "--port", str(args.port),
                  "--config-file", str(config), "--timeout", str(args.timeout), "-o", str(output)], args.timeout)
    report["output_written"] = output.exists()
    report["in_process"] = in_process
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="case", required=True)
    for name in ("stream", "fail"):
        case = sub.add_parser(name)
        case.add_argument("raw", type=Path)
        case.add_argument("--host", default="127.0.0.1")
        case.add_argument("--port", type=int, default=9002)
        case.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    sub.choices["stream"].add_argument("--client", choices=("ismrmrd-client", "emulate"), required=True)
    sub.choices["stream"].add_argument("--config", required=True, help="configuration name the server knows")
    sub.choices["stream"].add_argument("--reference-config", help="replay this one instead")
    sub.choices["fail"].add_argument("--fail-after", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        report = (stream if args.case == "stream" else fail)(args, Path(work))
    json.dump(report, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
