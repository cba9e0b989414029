"""``bench streaming`` runs a real-time stream and reports per-slice latencies, for stacks too."""

import json

import pytest

from pipelines.cli import main
from pipelines.commands.simulate import simulate_file
from pipelines.errors import UserError


@pytest.mark.timeout(60)
def test_bench_streaming_reports_latency_per_slice(tmp_path, capsys):
    assert main(["bench", "streaming", "--methods", "zero-filled", "--device", "cpu", "--speed", "4",
                 "--out-dir", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "streaming.json").read_text())
    assert row["method"] == "zero-filled" and row["slice"] == 0 and row["images"] == 6 and row["via"] == "server"
    assert 0 < row["first_image_s"] <= row["last_image_s"] < 30
    assert "| cine_tiny_ktuniform_R4.h5 | server | zero-filled | 1 | 0 | 6 |" in capsys.readouterr().out


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return simulate_file(tmp_path_factory.mktemp("stack") / "stack.h5", realistic=True, slices=3, matrix=32,
                         frames=4, coils=4, pattern="kt-uniform", acceleration=4)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("via", ["server", "chain"])
def test_bench_streaming_of_stacks(stack, tmp_path, via):
    """``--slices 1 3``: the first slice, then the stack; per slice and for the stack, with a preview."""
    assert main(["bench", "streaming", "--raw", str(stack), "--slices", "1", "3", "--via", via, "--methods",
                 "cg-sense", "--preview", "zero-filled", "--device", "cpu", "--speed", "20",
                 "--out-dir", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "streaming.json").read_text())
    assert [(r["slices"], r["slice"]) for r in rows] == [(1, 0), (3, 0), (3, 1), (3, 2), (3, "all")]
    for r in rows:
        assert r["via"] == via and r["images"] == (12 if r["slice"] == "all" else 4)
        assert 0 < r["first_image_s"] <= r["last_image_s"] < 60
        assert r["first_preview_s"] is not None and r["first_preview_s"] < 60
    assert rows[-1]["first_image_s"] == rows[-2]["first_image_s"]  # the stack's: its last slice's
    assert "-> first preview (s)" in (tmp_path / "streaming.md").read_text()


def test_more_slices_than_the_file_has_is_one_clear_error(stack, tmp_path, capsys):
    assert main(["bench", "streaming", "--raw", str(stack), "--slices", "4", "--methods", "zero-filled",
                 "--out-dir", str(tmp_path)]) == 2
    assert "has 3 slice(s): --slices 4 is not possible" in capsys.readouterr().err
    with pytest.raises(UserError):
        from pipelines.benches.streaming import FirstSlices
        from pipelines.files.ismrmrd_io import open_raw

        FirstSlices(open_raw(stack), 0)
