"""The benchmark commands: they run, write their tables, and measure what they claim."""

import json
from pathlib import Path

import pytest

from pipelines.benches.classical import coil_agreement
from pipelines.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.parametrize("name", ["cine_cartesian_ktgaussian_R8.h5", "cine_radial_13spokes.h5"])
def test_espirit_maps_agree_with_the_simulated_maps(name):
    result = coil_agreement(SAMPLES / name, "cpu")
    assert result["agreement_mean"] > 0.98


def test_bench_classical_on_a_given_file_writes_table_and_json(tmp_path, capsys):
    raw = SAMPLES / "cine_tiny_ktuniform_R4.h5"
    assert main(["bench", "classical", "--raw", str(raw), "--methods", "zero-filled", "cg-sense",
                 "--device", "cpu", "--out-dir", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["method"] for r in rows] == ["zero-filled", "cg-sense"]
    assert all(r["seconds"] > 0 and r["frames"] == 6 and r["protocol"] == "kp-inr" for r in rows)
    assert "| cine_tiny_ktuniform_R4.h5 | cg-sense |" in (tmp_path / "results.md").read_text()
    assert "cg-sense" in capsys.readouterr().out


def test_bench_rejects_an_unknown_method_before_any_work(tmp_path):
    assert main(["bench", "classical", "--methods", "no-such-method", "--out-dir", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())
