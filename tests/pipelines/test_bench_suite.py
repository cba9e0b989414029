"""The shape the comparison suites share (``pipelines.benches.suite``): a run in its own process that fails
becomes an error row, the paired test, failure cells, and each INR set beside the best classical method."""

import math

import pytest
from scipy.stats import wilcoxon

from pipelines.benches.suite import failure_cell, inr_versus_classical, paired_test, run_job


def test_a_method_raising_in_its_child_process_becomes_an_error_row(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    broken = tmp_path / "broken.h5"
    broken.write_text("not an HDF5 file")
    row = run_job(broken, "zero-filled", None, "cpu", tmp_path)
    assert row["method"] == "zero-filled" and row["file"] == "broken.h5" and row["preset"] == "default"
    assert "broken.h5" in row["error"] and "\n" not in row["error"]


def test_paired_test_handles_ties_infinities_and_ordinary_values():
    a = [30.0, 31.0, 29.5, 30.5, 32.0]
    assert paired_test(a, a) == (None, "identical per-frame values")
    assert paired_test([math.inf, 1.0], [2.0, 1.0]) == (None, "non-finite per-frame values")
    assert paired_test([1.0, 2.0], [1.0]) == (None, "different frame counts (2 and 1)")
    b = [28.0, 30.2, 29.0, 29.0, 30.1]
    p, reason = paired_test(a, b)
    assert reason is None and p == pytest.approx(wilcoxon(a, b).pvalue) and 0 < p <= 1


def test_failure_cell_is_one_escaped_line():
    assert failure_cell("bad | thing\ntraceback") == "failed: bad \\| thing"
    assert len(failure_cell("x" * 500)) == len("failed: ") + 100


def test_each_inr_is_set_beside_its_start_and_the_best_classical_method_of_its_file(tmp_path):
    def row(file, method, psnr, ssim, frames=(0.0, 0.4, -0.3, 0.2, 0.1)):
        return {"file": file, "method": method, "error": None, "psnr_mean": psnr, "ssim_mean": ssim,
                "psnr": [psnr + d for d in frames], "ssim": [ssim + d / 100 for d in frames], "seconds": 12.0,
                "peak_memory_mb": 800.0, "memory_kind": "rss"}

    rows = [row("u.h5", "llr", 37.5, 0.98), row("u.h5", "grasp", 36.0, 0.99),
            row("u.h5", "lr-inr", 38.0, 0.985, frames=(0.6, 0.5, 0.7, 0.9, 0.8)),
            row("u.h5", "lr-inr:start", 37.4, 0.979),
            row("g.h5", "llr", 30.0, 0.9), {"file": "g.h5", "method": "lr-inr", "error": "boom"}]
    methods = ["llr", "grasp", "lr-inr", "lr-inr:start"]
    lines = inr_versus_classical(rows, [("u.h5", "U"), ("g.h5", "G")], methods)
    p_psnr = wilcoxon(rows[2]["psnr"], rows[0]["psnr"]).pvalue
    p_ssim = wilcoxon(rows[2]["ssim"], rows[0]["ssim"]).pvalue
    assert (f"| U | lr-inr | 38.00 | 0.9850 | 12.0 | 800 rss | 37.40 / 0.9790 | +0.60 / +0.0060 | llr | 37.50 | "
            f"0.9800 | +0.50 | +0.0050 | {p_psnr:.3f} / {p_ssim:.3f} |") in lines
    assert "| G | lr-inr | failed or not run | — | — | — | — | — | llr | 30.00 | 0.9000 | — | — | — |" in lines
    assert not any("| lr-inr:start |" in line for line in lines)  # the start is a column, never an INR row
    assert inr_versus_classical(rows, [("u.h5", "U")], ["llr", "grasp"]) == []  # no INR: no section


def test_method_entries_with_a_preset_and_the_warm_start_rows():
    from inr_core.methods import get_method
    from pipelines.benches.suite import (
        check_methods,
        method_properties,
        preset_for,
        reference_method,
        split_spec,
        with_warm_starts,
    )
    from pipelines.errors import UserError

    assert split_spec("grasp@fast") == ("grasp", "fast") and split_spec("llr") == ("llr", None)
    assert split_spec("lr-inr@smoke:start") == ("lr-inr", "smoke")
    assert preset_for("grasp@fast", "paper") == "fast" and preset_for("grasp", "paper") == "paper"
    # the start row: the same method and preset, with the method's start options as chain properties
    assert method_properties("lr-inr@smoke:start", "cpu", None) == {
        "method": "lr-inr", "device": "cpu", "fallback": "none", "preset": "smoke",
        **{k: str(v) for k, v in get_method("lr-inr").start_options.items()}}
    assert get_method("lr-inr").start_options and not get_method("llr").start_options
    with pytest.raises(UserError, match="'grasp' has no preset 'fsat'"):
        check_methods(["grasp@fsat"])
    with pytest.raises(UserError, match="'llr' does not start from a classical image"):
        check_methods(["llr:start"])
    starts = [f"{m}:start" for m in ("lr-inr", "da-inr") if get_method(m).start_options]  # only INRs that have one
    assert [m for m in with_warm_starts(["llr", "lr-inr", "da-inr"]) if m.endswith(":start")] == starts
    assert with_warm_starts(["llr", "lr-inr@smoke"])[-1] == "lr-inr@smoke:start"
    assert with_warm_starts(["lr-inr:start", "lr-inr"]) == ["lr-inr:start", "lr-inr"]  # not twice
    assert reference_method(["llr", "lr-inr", "lr-inr:start"], "kp-inr") == "lr-inr"  # never a start row
