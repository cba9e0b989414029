"""``serve`` and ``emulate`` as commands in their own processes: nothing on stdout, images out,
the server ended by its owner (SIGTERM) within a bounded wait."""

import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.files.ismrmrd_io import read_images

ROOT = Path(__file__).parents[2]
RAW = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"


def wait_for_port(process, timeout_s=60):
    deadline, seen = time.monotonic() + timeout_s, b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.5)
        if ready:
            seen += process.stderr.read1(4096)
            found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", seen)
            if found:
                return int(found.group(1))
    raise AssertionError(f"serve did not report its port: {seen[-500:]!r}")


@pytest.mark.timeout(90)
def test_serve_and_emulate_commands(tmp_path):
    server = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", "0"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = wait_for_port(server)
        outputs = []
        for extra in ([], ["--realtime", "--speed", "4"]):
            out = tmp_path / f"out{len(outputs)}.h5"
            done = subprocess.run([sys.executable, "-m", "pipelines.cli", "emulate", str(RAW), "--port", str(port),
                                   "--method", "zero-filled", "--set", "device=cpu", *extra, "-o", str(out)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert done.stdout == ""
            outputs.append(read_images(out)[0].data)
        assert outputs[0].shape[0] == 6 and np.array_equal(outputs[0], outputs[1])
    finally:
        server.terminate()
        stdout, _ = server.communicate(timeout=20)
    assert stdout == b""
