"""The OpenRecon container label (pipelines/commands/openrecon_label.py): generated from the registry, the
presets and the chain's typed settings, valid against docker/openrecon-label.schema.json, and what
docker/build-image.sh hands to `podman build --label`."""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import TEST_METHOD  # noqa: F401 - registers the test-only method

from inr_core.methods import list_methods
from pipelines.cli import main
from pipelines.commands.openrecon_label import LABEL_KEY, Requirements, openrecon_label
from pipelines.errors import UserError

jsonschema = pytest.importorskip("jsonschema")

DOCKER = Path(__file__).parents[2] / "docker"
SCHEMA = json.loads((DOCKER / "openrecon-label.schema.json").read_text())
IMAGE = "localhost/gadgetron-inr:local"


def validator():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    return jsonschema.Draft7Validator(SCHEMA)


def parameters(label: dict) -> dict[str, dict]:
    return {p["id"]: p for p in label["parameters"]}


def test_label_is_valid_against_its_schema():
    label = openrecon_label()
    errors = [e.message for e in validator().iter_errors(label)]
    assert not errors
    ids = [p["id"] for p in label["parameters"]]
    assert len(ids) == len(set(ids))
    for p in label["parameters"]:
        assert p["default"] in [v["id"] for v in p["values"]], p["id"]


@pytest.mark.parametrize("breakage", ["underscore id", "15 parameters", "unknown emitter", "no version"])
def test_the_schema_refuses_what_openrecon_refuses(breakage):
    """The validator bites: each edit of a good label is one error."""
    label = copy.deepcopy(openrecon_label())
    if breakage == "underscore id":
        label["parameters"][0]["id"] = "time_budget_s"
    elif breakage == "15 parameters":
        label["parameters"] = [dict(label["parameters"][0], id=f"p{i}") for i in range(15)]
    elif breakage == "unknown emitter":
        label["reconstruction"]["emitter"] = "kspace"
    else:
        del label["general"]["version"]
    assert list(validator().iter_errors(label))


def test_parameters_come_from_the_registry_and_the_chain():
    """Every registered method (the test-only one included: it was registered at import, not written
    into any list), every preset, the export stage's output kinds, and the packaged chain's defaults."""
    params = parameters(openrecon_label())
    methods = [m.name for m in list_methods()]
    assert TEST_METHOD in methods
    assert [v["id"] for v in params["method"]["values"]] == methods
    presets = {p for m in list_methods() for p in m.presets}
    assert set(v["id"] for v in params["preset"]["values"]) == presets | {"default"}
    assert [v["id"] for v in params["output"]["values"]] == ["magnitude", "complex", "ushort"]
    assert [v["id"] for v in params["preview"]["values"]] == ["none", *methods]
    assert [v["id"] for v in params["fallback"]["values"]] == ["none", *methods]
    assert [v["id"] for v in params["config"]["values"]] == ["cartesian", "radial"]  # no worker/distributed chains
    # pipelines/streaming/configs/cartesian.xml sets method, preset, device and output; preview and fallback are
    # the reconstruction stage's typed defaults
    defaults = {k: p["default"] for k, p in params.items()}
    assert defaults == {"config": "cartesian", "method": "l-plus-s", "preset": "default", "device": "auto",
                        "output": "magnitude", "preview": "none", "fallback": "cg-sense"}


def test_every_parameter_id_is_a_setting_the_chain_takes():
    """The ids are the chain's own setting names: the packaged chain loads with each default given
    explicitly, and a misspelt one is refused (so the ids are not silently ignored)."""
    from pipelines.streaming.host import Pipeline

    params = parameters(openrecon_label())
    settings = {k: p["default"] for k, p in params.items() if k != "config" and p["default"] != "none"}
    chain = Pipeline.load(params["config"]["default"], settings)
    assert chain.properties.get("method") == "l-plus-s"
    with pytest.raises((UserError, ValueError)):
        Pipeline.load("cartesian", {"methd": "zero-filled"})


def test_every_choice_is_taken_by_the_server_path():
    """Each value the UI can send, as the scanner sends it (configAdditional JSON), through the server's
    own parsing (pipelines.streaming.parameters) into the chain's typed settings: none is refused. A
    preset goes with a method that has it; a misspelt key is refused, as the server reports it."""
    from pipelines.streaming.host import Pipeline
    from pipelines.streaming.parameters import parse_config_additional

    params = parameters(openrecon_label())
    tried = 0
    for name, p in params.items():
        for value in (v["id"] for v in p["values"]):
            sent = {"config": params["config"]["default"], name: value}
            if name == "preset" and value != "default":
                sent["method"] = next(m.name for m in list_methods() if value in m.presets)
            additional = parse_config_additional(json.dumps({"parameters": sent}))
            Pipeline.load(additional.config, additional.settings)
            tried += 1
    assert tried == sum(len(p["values"]) for p in params.values())
    with pytest.raises((UserError, ValueError), match="methd"):
        additional = parse_config_additional(json.dumps({"parameters": {"methd": "zero-filled"}}))
        Pipeline.load("cartesian", additional.settings)


def test_reconstruction_part():
    rec = openrecon_label()["reconstruction"]
    assert rec["transfer_protocol"] == {"protocol": "ISMRMRD", "version": "1.4.1"}
    assert (rec["emitter"], rec["injector"]) == ("raw", "image")
    assert rec["can_use_gpu"] is True and rec["min_count_required_gpus"] == 0
    assert rec["port"] == 9002
    # the images listen there: both image files expose it and start their server on it
    for name in ("Containerfile", "Dockerfile"):
        text = (DOCKER / name).read_text()
        assert re.search(rf"^EXPOSE .*\b{rec['port']}\b", text, re.M), name
    custom = openrecon_label(requirements=Requirements(memory_mb=8192, gpu_memory_mb=6000, cpu_cores=4))
    assert (custom["reconstruction"]["min_required_memory"], custom["reconstruction"]["min_required_gpu_memory"],
            custom["reconstruction"]["min_count_required_cpu_cores"]) == (8192, 6000, 4)


def test_requirements_are_checked_where_they_enter(capsys):
    with pytest.raises(UserError, match="cpu_cores must be a whole number >= 1"):
        Requirements(cpu_cores=0)
    assert main(["openrecon-label", "--min-gpu-memory-mb", "-1"]) == 2
    assert main(["openrecon-label", "--chain", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "gpu_memory_mb must be a whole number >= 0" in err and "no packaged chain 'nosuch'" in err


def test_command_prints_the_json_and_its_base64(capsys):
    assert main(["openrecon-label"]) == 0
    text = capsys.readouterr().out
    assert json.loads(text) == openrecon_label()
    assert main(["openrecon-label", "--base64"]) == 0
    value = capsys.readouterr().out.strip()
    assert json.loads(base64.b64decode(value)) == openrecon_label()


def test_build_script_passes_the_generated_label(capsys):
    script = (DOCKER / "build-image.sh").read_text()
    assert "openrecon-label --build-label" in script and '--label "$label"' in script
    assert main(["openrecon-label", "--build-label"]) == 0
    key, value = capsys.readouterr().out.strip().split("=", 1)
    assert key == LABEL_KEY and json.loads(base64.b64decode(value)) == openrecon_label()


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed (docs/containers.md)")
def test_built_image_carries_the_label():
    """Where `make container-test` has built the image: its label decodes to a valid, current label."""
    found = subprocess.run(["podman", "image", "inspect", IMAGE], capture_output=True, text=True, timeout=60)
    if found.returncode != 0:
        pytest.skip(f"{IMAGE} is not built here (bash docker/build-image.sh)")
    labels = json.loads(found.stdout)[0].get("Labels") or {}
    assert LABEL_KEY in labels
    label = json.loads(base64.b64decode(labels[LABEL_KEY]))
    assert not list(validator().iter_errors(label))
    assert parameters(label)["method"]["values"]
