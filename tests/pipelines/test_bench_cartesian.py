"""``bench cartesian``: the Table-1 suite runs every method in its own process, scores per frame,
tests against the reference method, survives a failing method and writes table, JSON and figure."""

import json
import logging

import numpy as np
import pytest
from scipy.stats import wilcoxon

import pipelines.benches.suite as suite
from inr_core.metrics import score
from pipelines.benches.cartesian import markdown
from pipelines.benches.suite import run_job
from pipelines.cli import main
from pipelines.commands.evaluate import load_pair

TINY = ["--matrix", "32", "--frames", "4", "--coils", "4", "--patterns", "kt-uniform", "--accelerations", "4",
        "--device", "cpu"]


def test_cartesian_suite_scores_tests_and_survives_a_failing_method(tmp_path, monkeypatch, capsys, caplog):
    real_run_job = run_job
    calls = []

    def run_job_with_a_failure(raw_path, method, preset, device, out_dir):
        calls.append(method)
        if method == "kt-grappa":  # stands in for a method raising in its child process (see the test below)
            return {"file": raw_path.name, "method": method, "preset": "default",
                    "error": "k-t GRAPPA | exploded\nsecond line of the traceback"}
        return real_run_job(raw_path, method, preset, device, out_dir)

    monkeypatch.setattr(suite, "run_job", run_job_with_a_failure)  # the runner every suite shares
    # The spawned children inherit this: OpenBLAS threads spinning on a busy 2-core machine made ESPIRiT's small
    # SVD take seconds instead of a fraction of one.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    with caplog.at_level(logging.WARNING):
        status = main(["bench", "cartesian", *TINY, "--methods", "zero-filled", "kt-grappa", "cg-sense",
                       "--preset", "fast", "--out-dir", str(tmp_path)])
    assert status == 0
    assert calls == ["zero-filled", "kt-grappa", "cg-sense"]  # the failure did not stop the run
    assert any("1 of 3 runs failed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

    out = tmp_path / "cartesian"
    document = json.loads((out / "cartesian.json").read_text())
    rows = document["rows"]
    assert [r["method"] for r in rows] == ["zero-filled", "kt-grappa", "cg-sense"]
    assert document["compared_with"] == "cg-sense"  # no kp-inr: the last method given
    zf, failed, cg = rows
    # --preset applies only where the method has it, and the row says which ran.
    assert (zf["preset"], cg["preset"]) == ("default", "fast")
    assert failed["error"].startswith("k-t GRAPPA")
    for r in (zf, cg):
        assert r["error"] is None and r["frames"] == 4
        assert len(r["psnr"]) == len(r["ssim"]) == len(r["nrmse"]) == 4
        assert r["psnr_mean"] == pytest.approx(np.mean(r["psnr"]))
        assert r["seconds"] > 0 and r["peak_memory_mb"] >= r["baseline_memory_mb"] > 0
        # The per-frame values are those of the written images against the reference.
        recon, reference = load_pair(r["images"], out / r["file"])
        np.testing.assert_allclose(r["psnr"], score(recon, reference, "kp-inr")["psnr"], rtol=1e-6)
    assert cg["p_psnr"] is None and cg["p_psnr_reason"] == "reference method"
    expected = wilcoxon(zf["psnr"], cg["psnr"]).pvalue
    assert zf["p_psnr"] == pytest.approx(expected) and 0 < zf["p_psnr"] <= 1
    assert zf["p_ssim"] is not None and zf["p_ssim_reason"] is None
    assert zf["psnr_mean"] < cg["psnr_mean"]  # CG-SENSE undoes some aliasing; a broken chain would not

    table = (out / "cartesian.md").read_text()
    assert "p vs cg-sense" in table
    assert "| kt-grappa | default | failed: k-t GRAPPA \\| exploded | — | — |" in table
    assert "second line" not in table
    assert f"| cg-sense | fast | {cg['psnr_mean']:.2f} ± {cg['psnr_std']:.2f} |" in table
    assert capsys.readouterr().out == table  # stdout is the table alone

    import matplotlib.image

    figure = out / "figure_kt-uniform_R4.png"
    pixels = matplotlib.image.imread(figure)
    assert figure.stat().st_size > 10_000 and pixels.shape[0] > 300 and pixels[..., :3].std() > 0.05


def test_unknown_method_fails_before_simulating(tmp_path):
    assert main(["bench", "cartesian", *TINY, "--methods", "zero-filled", "no-such-method",
                 "--out-dir", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_bad_acceleration_fails_before_simulating(tmp_path):
    assert main(["bench", "cartesian", "--matrix", "32", "--accelerations", "12", "--methods", "zero-filled",
                 "--out-dir", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_markdown_places_methods_and_settings_like_table_1(tmp_path):
    settings = [{"pattern": "kt-uniform", "acceleration": 4.0, "raw": tmp_path / "u4.h5"},
                {"pattern": "kt-gaussian", "acceleration": 8.0, "raw": tmp_path / "g8.h5"}]
    ok = {"error": None, "psnr_mean": 31.234, "psnr_std": 0.5, "ssim_mean": 0.91, "ssim_std": 0.01,
          "p_psnr": 0.0004, "p_psnr_reason": None, "p_ssim": None, "p_ssim_reason": "identical per-frame values",
          "seconds": 2.0, "peak_memory_mb": 900.0, "memory_kind": "cuda"}
    rows = [{"file": "u4.h5", "method": "a", "preset": "paper", **ok},
            {"file": "g8.h5", "method": "a", "preset": "paper", "error": "out of memory"}]
    table = markdown(rows, settings, ["a", "b"], "b")
    assert ("| method | preset | kt-uniform R=4 PSNR | kt-uniform R=4 SSIM | kt-uniform R=4 p vs b | "
            "kt-gaussian R=8 PSNR") in table
    assert ("| a | paper | 31.23 ± 0.50 | 0.9100 ± 0.0100 | 0.0004 / n/a (identical per-frame values) | "
            "failed: out of memory | — | — |") in table
    assert "| b | default | — | — | — | — | — | — |" in table  # a method with no rows at all
    assert "| a | 2.0 | 900 cuda | failed | — |" in table
