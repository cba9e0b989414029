"""The container files, checked statically (no Docker engine here), and the compose test driver
run against the loopback server in place of Gadgetron."""

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.server import Server

ROOT = Path(__file__).parents[2]
DOCKER = ROOT / "docker"
sys.path.insert(0, str(DOCKER))
import stream_check  # noqa: E402


def dockerfile_instructions():
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_builds_on_gadgetron_472_in_both_variants():
    instructions = dockerfile_instructions()
    args = {v.split("=")[0]: v.split("=")[1] for k, v in instructions if k == "ARG" and "=" in v}
    (base,) = [v for k, v in instructions if k == "FROM"]
    assert args["GADGETRON_VERSION"] == "4.7.2" and args["VARIANT"] == "nocuda"
    for variant in ("cuda", "nocuda"):
        image = base.replace("${VARIANT}", variant).replace("${GADGETRON_VERSION}", args["GADGETRON_VERSION"])
        assert image == f"ghcr.io/gadgetron/gadgetron/ubuntu22.04_rt_{variant}:4.7.2"
    # Everything copied exists in the build context (the repository root).
    for key, value in instructions:
        if key == "COPY":
            *sources, _ = shlex.split(value)
            for source in sources:
                assert (ROOT / source).exists(), source
    run = " ".join(v for k, v in instructions if k == "RUN")
    assert "python -m pip install --no-cache-dir ." in run
    assert 'cp pipelines/configs/*.xml "$CONDA_PREFIX/share/gadgetron/config/"' in run
    env = " ".join(v for k, v in instructions if k == "ENV")
    assert "CONDA_PREFIX=/opt/conda/envs/gadgetron" in env and "PATH=/opt/conda/envs/gadgetron/bin:" in env
    assert re.search(r'"--disable_storage", "true"', dict(instructions)["CMD"])


def test_compose_services():
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    for name in ("gadgetron", "gadgetron-gpu"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile",
                                    "args": {"VARIANT": "${VARIANT:-nocuda}"}}
        assert service["command"] == ["--port", "9002", "--disable_storage", "true"]
        assert service["ports"] == ["127.0.0.1:9002:9002"]
    gpu = services["gadgetron-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and services["gadgetron-gpu"]["profiles"] == ["gpu"]
    assert "deploy" not in services["gadgetron"]  # the CPU service starts where there is no GPU
    for name, server in (("test", "gadgetron"), ("test-gpu", "gadgetron-gpu")):
        test = services[name]
        assert test["depends_on"] == [server]
        assert test["volumes"] == ["../sample_data:/data:ro"]
        assert test["entrypoint"][-1] == "/opt/gadgetron-inr/docker/stream_check.py"
        assert test["command"][:4] == ["--host", server, "--port", "9002"] and test["command"][-1] == "/data"
    assert (ROOT / "sample_data").is_dir() and list((ROOT / "sample_data").glob("*.h5"))


@pytest.mark.timeout(60)
def test_stream_check_against_the_loopback_server(capsys):
    server = Server("127.0.0.1", 0, timeout_s=20).start()
    try:
        rc = stream_check.main([str(ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"), "--port", str(server.port),
                                "--methods", "zero-filled", "--wait", "5", "--timeout", "30"])
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.search(r"cine_tiny_ktuniform_R4.h5\s+zero-filled\s+0.00e\+00\s+ok", out)
