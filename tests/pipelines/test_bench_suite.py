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


def test_each_inr_is_set_beside_the_best_classical_method_of_its_file(tmp_path):
    def row(file, method, psnr, ssim):
        return {"file": file, "method": method, "error": None, "psnr_mean": psnr, "ssim_mean": ssim}

    rows = [row("u.h5", "llr", 37.5, 0.98), row("u.h5", "grasp", 36.0, 0.99), row("u.h5", "lr-inr", 38.0, 0.985),
            row("g.h5", "llr", 30.0, 0.9), {"file": "g.h5", "method": "lr-inr", "error": "boom"}]
    lines = inr_versus_classical(rows, [("u.h5", "U"), ("g.h5", "G")], ["llr", "grasp", "lr-inr"])
    assert "| U | lr-inr | 38.00 | 0.9850 | llr | 37.50 | 0.9800 | +0.50 | +0.0050 |" in lines
    assert "| G | lr-inr | failed or not run | — | llr | 30.00 | 0.9000 | — | — |" in lines
    assert inr_versus_classical(rows, [("u.h5", "U")], ["llr", "grasp"]) == []  # no INR: no section
