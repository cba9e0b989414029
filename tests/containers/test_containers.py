"""The image from docker/Containerfile, run: a Gadgetron container and test-driver containers of the
same image on the host's loopback (``--network host``), streaming sample_data/ with
``gadgetron_ismrmrd_client`` and ``gadgetron-inr emulate`` and comparing each series with ``replay``
computed in the driver container (relative L2 <= 0.01), a failing gadget whose error text reaches
the client within 10 s, and the connect-mode worker in a container of its own.

Runs only with GADGETRON_INR_CONTAINERS=1 (``make container-test`` sets it, after the host set-up and
the build), as root with podman; builds the image first if it is missing. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("IMAGE", "localhost/gadgetron-inr:local")
LABEL = "gadgetron-inr-test"  # make container-test removes whatever carries it, should a test not
SAMPLES = ROOT / "sample_data"
L2_LIMIT = 0.01
ERROR_WITHIN_S = 10.0
# cartesian_worker.xml dials port 18000, which is machine-wide on a shared host network (another
# session's worker may hold it): the server gets a copy dialling a free port, mounted next to it.
WORKER_CONFIG = "cartesian_worker_test.xml"
CONFIG_DIR = "/opt/conda/envs/gadgetron/share/gadgetron/config"

if os.environ.get("GADGETRON_INR_CONTAINERS") != "1":
    pytest.skip("containerised tests run with `make container-test` (or GADGETRON_INR_CONTAINERS=1)",
                allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("rootful podman needs root here (rootless lacks the uid maps)", allow_module_level=True)
if shutil.which("podman") is None:
    pytest.skip("podman is not installed: `make container-test` installs it with apt-get", allow_module_level=True)


def podman(*args: str, timeout_s: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout_s)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def listening(port: int) -> bool:
    """A LISTEN socket on ``port`` in the host's table (the containers share the host's network);
    read from /proc so that probing opens no connection Gadgetron would fork a session for."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """A detached container of IMAGE on the host network: ``options`` before the image, ``command``
    after it (the entry point's arguments). Removed on stop()."""

    def __init__(self, name: str, options: list[str], command: list[str]):
        self.name = f"{LABEL}-{name}-{os.getpid()}"
        podman("rm", "-f", "-t", "1", self.name, check=False)
        podman("run", "-d", "--name", self.name, "--label", LABEL, "--network", "host", *options, IMAGE, *command)

    def wait_listening(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not listening(port):
            if podman("inspect", "-f", "{{.State.Running}}", self.name, check=False).stdout.strip() != "true":
                raise AssertionError(f"{self.name} stopped before listening on {port}:\n{self.logs()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: nothing on port {port} after {timeout_s:g} s:\n"
                                     f"{self.logs()[-2000:]}")
            time.sleep(0.2)

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def stop(self) -> None:
        podman("rm", "-f", "-t", "5", self.name, timeout_s=30, check=False)


def drive(*args: str, timeout_s: float = 240) -> dict:
    """One case of docker/container_driver.py in a driver container (removed when it exits); its report."""
    done = podman("run", "--rm", "--label", LABEL, "--network", "host", "-v", f"{SAMPLES}:/data:ro",
                  "--entrypoint", "/opt/conda/envs/gadgetron/bin/python", IMAGE,
                  "/opt/gadgetron-inr/docker/container_driver.py", *args, timeout_s=timeout_s)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def image():
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        built = subprocess.run(["bash", str(ROOT / "docker" / "build-image.sh")], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stderr[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def gadgetron(image, tmp_path_factory):
    """The image's own entry point (gadgetron, storage off) on a free port of the host's loopback,
    with WORKER_CONFIG (the packaged cartesian_worker.xml, its <connect> port free) in its config folder."""
    port, worker_port = free_port(), free_port()
    worker_config = tmp_path_factory.mktemp("config") / WORKER_CONFIG
    text = (ROOT / "pipelines" / "streaming" / "configs" / "cartesian_worker.xml").read_text()
    assert text.count('<connect port="18000"/>') == 1, "cartesian_worker.xml's <connect> changed"
    worker_config.write_text(text.replace('<connect port="18000"/>', f'<connect port="{worker_port}"/>'))
    server = Container("gadgetron", ["-v", f"{worker_config}:{CONFIG_DIR}/{WORKER_CONFIG}:ro"],
                       ["--port", str(port), "--disable_storage", "true"])
    server.port, server.worker_port = port, worker_port
    try:
        server.wait_listening(port, 60)
        yield server
    finally:
        server.stop()


def assert_equal_to_replay(report: dict) -> tuple[int, float]:
    """Every series within L2_LIMIT of replay's; returns (images, worst relative L2)."""
    client, replay = report["client"], report["replay"]
    assert client["rc"] == 0, f"client exited {client['rc']}:\n{client['stderr']}"
    assert "ERROR" not in client["stderr"], client["stderr"]
    assert replay["rc"] == 0, f"replay exited {replay['rc']}:\n{replay['stderr']}"
    series = report["series"]
    assert series, "no image series came back"
    for key, row in series.items():
        assert row["rel_l2"] is not None, f"{key}: {row['why']}"
        assert row["rel_l2"] <= L2_LIMIT, f"{key}: relative L2 {row['rel_l2']:.3g} > {L2_LIMIT}"
    return sum(r["images"] for r in series.values()), max(r["rel_l2"] for r in series.values())


CASES = [(raw.name, "radial.xml" if "radial" in raw.name else "cartesian.xml") for raw in sorted(SAMPLES.glob("*.h5"))]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("client", ["ismrmrd-client", "emulate"])
@pytest.mark.parametrize(("raw", "config"), CASES, ids=[raw for raw, _ in CASES])
def test_sample_streamed_equals_replay(gadgetron, record, raw, config, client):
    report = drive("stream", f"/data/{raw}", "--client", client, "--config", config, "--port", str(gadgetron.port))
    images, worst = assert_equal_to_replay(report)
    record(f"{raw} {config} {client}", report["client"]["seconds"], images, worst)


@pytest.mark.timeout(120)
def test_failing_gadget_reaches_the_client(gadgetron, record):
    report = drive("fail", "/data/cine_tiny_ktuniform_R4.h5", "--fail-after", "20", "--port", str(gadgetron.port),
                   "--timeout", "60")
    expected = "FailAfter: forced failure after 20 items"
    streamed = report["in_process"]
    assert any(expected in e for e in streamed["errors"]), streamed["errors"]
    assert streamed["seconds"] <= ERROR_WITHIN_S, f"the error took {streamed['seconds']} s"
    record("failing gadget (gadgets.fault after 20 items): error text at the client", streamed["seconds"])
    assert report["rc"] == 2, report
    assert expected in report["stderr"], report["stderr"]
    assert f"server 127.0.0.1:{gadgetron.port} reported an error" in report["stderr"], report["stderr"]
    assert not report["output_written"]
    record("failing gadget, `gadgetron-inr emulate` exits 2 with the text (incl. start-up)", report["seconds"])
    # The server is still good for the next scan.
    images, worst = assert_equal_to_replay(drive("stream", "/data/cine_tiny_ktuniform_R4.h5", "--client", "emulate",
                                                 "--config", "cartesian.xml", "--port", str(gadgetron.port)))
    assert images > 0


@pytest.mark.timeout(300)
def test_worker_in_its_own_container(gadgetron, record):
    worker = Container("worker", ["--entrypoint", "/opt/conda/envs/gadgetron/bin/gadgetron-inr"],
                       ["worker", "--port", str(gadgetron.worker_port), "--timeout", "120"])
    try:
        worker.wait_listening(gadgetron.worker_port, 90)
        report = drive("stream", "/data/cine_tiny_ktuniform_R4.h5", "--client", "emulate", "--config",
                       WORKER_CONFIG, "--reference-config", "cartesian.xml", "--port", str(gadgetron.port))
        images, worst = assert_equal_to_replay(report)
        running = podman("inspect", "-f", "{{.State.Running}}", worker.name).stdout.strip()
        assert running == "true", "the worker must outlive its scan"
        assert "scan 1 done" in worker.logs(), worker.logs()[-2000:]
    finally:
        worker.stop()
    record("cine_tiny cartesian_worker.xml (free port) emulate, worker in its own container",
           report["client"]["seconds"], images, worst)


@pytest.mark.timeout(120)
def test_compose_stream_check(gadgetron, record):
    """docker/stream_check.py, the compose file's test service, passes against the containerised server."""
    started = time.monotonic()
    done = podman("run", "--rm", "--label", LABEL, "--network", "host", "-v", f"{SAMPLES}:/data:ro",
                  "--entrypoint", "/opt/conda/envs/gadgetron/bin/python", IMAGE,
                  "/opt/gadgetron-inr/docker/stream_check.py", "--port", str(gadgetron.port), "--methods",
                  "zero-filled", "--wait", "10", "--timeout", "60", "/data/cine_tiny_ktuniform_R4.h5",
                  timeout_s=100, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "zero-filled" in done.stdout and done.stdout.rstrip().endswith("ok"), done.stdout
    record("docker/stream_check.py (compose's test), tiny, zero-filled", time.monotonic() - started)


@pytest.mark.timeout(600)
def test_official_dockerfile_steps_on_the_local_image(image, record, tmp_path):
    """docker/Dockerfile's own steps, with the local image in place of the ghcr.io base (which
    cannot be pulled here; the local image has its layout): the shared install script must run in
    it and the result must start its entry point. pip is pointed at the find-links folder and the
    host's CA bundle through a mounted /etc/pip.conf, as the Dockerfile mounts nothing."""
    tag = f"{IMAGE}-dockerfile-check"
    pip_conf, mounts, settings = tmp_path / "pip.conf", [], ["[global]"]
    for host_path, where, key in (("/etc/ssl/certs/ca-certificates.crt", "/run/pip-cert.pem", "cert"),
                                  (os.environ.get("PIP_FIND_LINKS", "/opt/wheels"), "/run/wheels", "find-links")):
        if Path(host_path).exists():
            mounts += ["-v", f"{host_path}:{where}:ro"]
            settings.append(f"{key} = {where}")
    pip_conf.write_text("\n".join(settings) + "\n")
    mounts += ["-v", f"{pip_conf}:/etc/pip.conf:ro"]
    started = time.monotonic()
    try:
        built = podman("build", "--layers", "-f", str(ROOT / "docker" / "Dockerfile"), "--from", image, "-t", tag,
                       *mounts, str(ROOT), timeout_s=540, check=False)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
        assert "gadgetron-inr installed; torch" in built.stdout, built.stdout[-3000:]
        info = podman("run", "--rm", "--label", LABEL, tag, "--info", check=False)
        assert info.returncode == 0 and "4.7.2" in info.stdout + info.stderr, info.stdout + info.stderr
    finally:
        podman("rmi", "-f", tag, check=False)
    record("docker/Dockerfile's steps built on the local image (podman build --from)", time.monotonic() - started)
