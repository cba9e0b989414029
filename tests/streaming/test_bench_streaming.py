"""``bench streaming`` runs a real-time stream and reports per-slice latencies."""

import json

import pytest

from pipelines.cli import main


@pytest.mark.timeout(60)
def test_bench_streaming_reports_latency_per_slice(tmp_path, capsys):
    assert main(["bench", "streaming", "--methods", "zero-filled", "--device", "cpu", "--speed", "4",
                 "--out-dir", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "streaming.json").read_text())
    assert row["method"] == "zero-filled" and row["slice"] == 0 and row["images"] == 6
    assert 0 < row["first_image_s"] <= row["last_image_s"] < 30
    assert "| cine_tiny_ktuniform_R4.h5 | zero-filled | 0 | 6 |" in capsys.readouterr().out
