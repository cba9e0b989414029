"""A real Gadgetron 4.7.2 server for the integration tests, and the checks of Gadgetron's own test
framework (``test/integration`` in the gadgetron repository): output images against a reference,
relative L2 <= 0.01, the scale ``<out, out> / <out, ref>`` within 0.01 of 1, and header fields.

The server comes from ``../shared/tools/build-gadgetron`` (its ``--prefix``; ``GADGETRON_PREFIX``
overrides it, as it does for the build). It runs on a free loopback port with a Gadgetron home of its
own (``-G``) holding our configurations, so nothing is written into the install prefix, and with
this environment's ``bin/`` first on its PATH, because Gadgetron starts python externals with the
first ``python`` on its PATH.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ismrmrd
import numpy as np

from pipelines.files.ismrmrd_io import ImageSeries, read_images
from pipelines.streaming.host import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT.parent / "shared" / "tools" / "build-gadgetron"
VENV_BIN = Path(sys.executable).parent
L2_LIMIT = 0.01
SCALE_LIMIT = 0.01
# attribute_string_len is 0 in files written by replay and the real length in streamed ones.
HEADER_FIELDS_SKIPPED = {"attribute_string_len"}


def gadgetron_prefix() -> Path:
    if os.environ.get("GADGETRON_PREFIX"):
        return Path(os.environ["GADGETRON_PREFIX"])
    if BUILD_SCRIPT.is_file():
        out = subprocess.run(["bash", str(BUILD_SCRIPT), "--prefix"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path("/opt/gadgetron-4.7.2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """A socket in LISTEN state on ``port`` (from /proc/net/tcp, so probing opens no connection:
    Gadgetron would fork a session for it and log an error)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


def wait_listening(port: int, process: subprocess.Popen, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not listening(port):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:g} s")
        time.sleep(0.05)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)


@dataclass
class Gadgetron:
    prefix: Path
    port: int
    process: subprocess.Popen
    stdout_path: Path
    log_path: Path
    env: dict
    worker_port: int  # the <connect> port of this server's cartesian_worker.xml

    @classmethod
    def start(cls, prefix: Path, workdir: Path, timeout_s: float = 30.0, env: dict | None = None) -> Gadgetron:
        """A server on a free loopback port; ``env`` adds to its environment (e.g. the
        ``GADGETRON_REMOTE_WORKER_COMMAND`` of a ``<distributed>`` chain's main server)."""
        home = workdir / "home"
        config_dir = home / "share" / "gadgetron" / "config"
        config_dir.mkdir(parents=True)
        for config in CONFIG_DIR.glob("*.xml"):
            shutil.copy(config, config_dir)
        # Port 18000 of cartesian_worker.xml is machine-wide and may be in use by someone else's
        # worker: this server's copy names a free one, otherwise the file is the packaged one.
        worker_port = free_port()
        worker_config = config_dir / "cartesian_worker.xml"
        text = worker_config.read_text()
        assert text.count('<connect port="18000"/>') == 1
        worker_config.write_text(text.replace('<connect port="18000"/>', f'<connect port="{worker_port}"/>'))
        (workdir / "work").mkdir()
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(VENV_BIN), str(prefix / "bin"), os.environ.get("PATH", "")]),
            "LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH")])),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "GADGETRON_EXTERNAL_LOG_LEVEL": "WARNING",
            "OMP_WAIT_POLICY": "PASSIVE",  # Gadgetron warns without it (busy-waiting OpenMP threads)
            **(env or {}),
        }
        port = free_port()
        stdout_path, log_path = workdir / "gadgetron.stdout", workdir / "gadgetron.log"
        with open(stdout_path, "wb") as out, open(log_path, "wb") as err:
            process = subprocess.Popen(
                [str(prefix / "bin" / "gadgetron"), "-p", str(port), "--disable_storage", "true",
                 "-W", str(workdir / "work"), "-G", str(home)],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir, start_new_session=True)
        server = cls(prefix, port, process, stdout_path, log_path, env, worker_port)
        try:
            wait_listening(port, process, timeout_s, "gadgetron")
        except RuntimeError:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        stop(self.process)
        # A session still running after the server is gone would be a leak of the test run.
        for pid in descendants(self.process.pid):
            os.kill(pid, signal.SIGKILL)

    def stdout(self) -> bytes:
        return self.stdout_path.read_bytes()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sessions(self) -> list[int]:
        """The processes the server runs for scans (one fork per connection, its python children)."""
        return descendants(self.process.pid)

    def wait_idle(self, timeout_s: float) -> float:
        """Seconds until no session process (forked server, python children) is left; raises after
        ``timeout_s`` naming what is still running."""
        started = time.monotonic()
        while True:
            left = self.sessions()
            if not left:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                names = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                         for pid in left if Path(f"/proc/{pid}").exists()]
                raise AssertionError(f"processes left behind {timeout_s:g} s after the scan: {names}")
            time.sleep(0.05)

    def client(self, raw: Path, config: str, output: Path, timeout_s: float, group: str = "out"):
        """``gadgetron_ismrmrd_client`` sending configuration ``config`` by name. It locks its input
        file while running, so each call gets its own copy of ``raw``."""
        copy = output.with_suffix(".input.h5")
        shutil.copy(raw, copy)
        command = [str(self.prefix / "bin" / "gadgetron_ismrmrd_client"), "-a", "127.0.0.1", "-p", str(self.port),
                   "-f", str(copy), "-o", str(output), "-c", config, "-G", group]
        return subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def emulate(self, raw: Path, output: Path, *options: str):
        command = [str(VENV_BIN / "gadgetron-inr"), "emulate", str(raw), "--port", str(self.port), "-o", str(output),
                   *options]
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


def finish(process: subprocess.Popen, timeout_s: float) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        raise AssertionError(f"{process.args[0]} did not finish within {timeout_s:g} s:\n{err[-2000:]}") from None
    return process.returncode, out, err


# -- comparison ---------------------------------------------------------------------------------
@dataclass
class Comparison:
    images: int
    rel_l2: float
    scale: float


def _series_key(series: ImageSeries) -> str:
    return series.name.rsplit("/", 1)[1]  # "image_<index>": the group differs between writers


def _order(series: ImageSeries) -> np.ndarray:
    h = series.headers
    return np.lexsort((h["image_index"], h["phase"], h["repetition"], h["contrast"], h["set"], h["slice"]))


def _meta(text: str) -> dict:
    meta = ismrmrd.Meta.deserialize(text) if text.strip() else {}
    return {key: list(meta[key]) if isinstance(meta[key], list) else [meta[key]] for key in meta.keys()}


def compare(got: list[ImageSeries], expected: list[ImageSeries]) -> Comparison:
    """Raise AssertionError unless ``got`` matches ``expected`` as Gadgetron's test framework requires;
    returns the worst relative L2 and scale over the series."""
    got_by, expected_by = {_series_key(s): s for s in got}, {_series_key(s): s for s in expected}
    assert sorted(got_by) == sorted(expected_by), f"series {sorted(got_by)} != {sorted(expected_by)}"
    worst_l2, worst_scale, images = 0.0, 1.0, 0
    for key, ref in expected_by.items():
        out = got_by[key]
        assert len(out.headers) == len(ref.headers), f"{key}: {len(out.headers)} images, expected {len(ref.headers)}"
        o, r = _order(out), _order(ref)
        for name in ref.headers.dtype.names:
            if name not in HEADER_FIELDS_SKIPPED:
                assert np.array_equal(out.headers[name][o], ref.headers[name][r]), f"{key}: header field {name} differs"
        for i, j in zip(o, r, strict=True):
            assert _meta(out.attributes[i]) == _meta(ref.attributes[j]), f"{key}: image meta differs"
        a, b = out.data[o].astype(np.complex128).ravel(), ref.data[r].astype(np.complex128).ravel()
        rel_l2 = float(np.linalg.norm(a - b) / np.linalg.norm(b))
        scale = float(np.abs(np.vdot(a, a) / np.vdot(b, a)))  # <out, out> / <ref, out>, as upstream
        assert rel_l2 <= L2_LIMIT, f"{key}: relative L2 {rel_l2:.3g} > {L2_LIMIT}"
        assert abs(scale - 1) <= SCALE_LIMIT, f"{key}: scale {scale:.4f} not within {SCALE_LIMIT} of 1"
        worst_l2, images = max(worst_l2, rel_l2), images + len(ref.headers)
        worst_scale = scale if abs(scale - 1) > abs(worst_scale - 1) else worst_scale
    return Comparison(images, worst_l2, worst_scale)


def compare_files(output: Path, reference: Path) -> Comparison:
    return compare(read_images(output), read_images(reference))
