"""``bench radial``: the DA-INR paper's comparison runs every method through the radial chain in its own
process, scores with the da-inr protocol, tests against the reference method and writes table, JSON and
the Fig. 4/6 figure; bad requests fail before any work."""

import json

import numpy as np
import pytest
from scipy.stats import wilcoxon

from inr_core.metrics import score
from pipelines.benches.radial import key_frames
from pipelines.cli import main
from pipelines.commands.evaluate import load_pair

TINY = ["--matrix", "32", "--frames", "4", "--coils", "2", "--spokes", "5", "--device", "cpu"]


def test_radial_suite_scores_tests_and_draws_the_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # inherited by the spawned children (see bench cartesian)
    assert main(["bench", "radial", *TINY, "--methods", "zero-filled", "grasp", "--preset", "fast",
                 "--out-dir", str(tmp_path)]) == 0

    out = tmp_path / "radial"
    document = json.loads((out / "results.json").read_text())
    assert (document["suite"], document["protocol"], document["matrix"], document["frames"], document["coils"]) == \
        ("radial", "da-inr", 32, 4, 2)
    assert document["compared_with"] == "grasp"  # no da-inr: the last method given
    assert [s["spokes"] for s in document["settings"]] == [5]
    zf, grasp = document["rows"]
    assert (zf["method"], zf["preset"], grasp["method"], grasp["preset"]) == ("zero-filled", "default", "grasp", "fast")
    for r in (zf, grasp):
        assert r["error"] is None and r["spokes"] == 5 and r["trajectory"] == "radial" and r["protocol"] == "da-inr"
        assert len(r["psnr"]) == len(r["ssim"]) == 4
        assert r["psnr_mean"] == pytest.approx(np.mean(r["psnr"]))
        assert r["seconds"] > 0 and r["cpu_seconds"] > 0 and r["peak_memory_mb"] >= r["baseline_memory_mb"] > 0
        # The per-frame values are those of the written images against the reference, min-max normalised.
        recon, reference = load_pair(r["images"], out / r["file"])
        np.testing.assert_allclose(r["ssim"], score(recon, reference, "da-inr")["ssim"], rtol=1e-6)
    assert grasp["p_psnr"] is None and grasp["p_psnr_reason"] == "reference method"
    assert zf["p_psnr"] == pytest.approx(wilcoxon(zf["psnr"], grasp["psnr"]).pvalue)
    assert zf["p_ssim"] is not None and zf["p_ssim_reason"] is None
    assert zf["psnr_mean"] < grasp["psnr_mean"]  # temporal TV removes streaks; a broken chain would not

    table = (out / "results.md").read_text()
    assert "da-inr protocol" in table and "p vs grasp" in table and "5 spokes PSNR" in table
    assert f"| grasp | fast | {grasp['psnr_mean']:.2f} ± {grasp['psnr_std']:.2f} |" in table
    assert capsys.readouterr().out == table

    import matplotlib.image

    pixels = matplotlib.image.imread(out / "figure_5spokes.png")
    assert pixels.shape[0] > 600 and pixels[..., :3].std() > 0.05


@pytest.mark.parametrize("extra, message", [
    (["--methods", "zero-filled", "no-such-method"], "no-such-method"),
    (["--methods", "kt-grappa"], "does not reconstruct radial data"),
    (["--methods", "zero-filled", "--spokes", "0"], "--spokes must be between"),
    (["--methods", "zero-filled", "--raw", "x.h5"], "--raw does not apply"),
])
def test_bad_requests_fail_before_any_work(tmp_path, capsys, extra, message):
    assert main(["bench", "radial", *TINY, *extra, "--out-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_key_frames_are_end_diastole_and_end_systole():
    assert key_frames(23) == {"diastole": 0, "systole": 8}


def test_defaults_are_the_papers_size_with_32_coils_on_cuda():
    import argparse

    from pipelines.benches.options import add_arguments, default_methods, resolve_defaults

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for device, coils in (("cpu", 8), ("cuda", 32)):
        args = parser.parse_args(["radial", "--device", device])
        resolve_defaults(args)
        assert (args.matrix, args.frames, args.coils, args.spokes) == (128, 23, coils, [5, 13, 21])
        assert args.methods == default_methods("radial")
    args = parser.parse_args(["radial", "--device", "cuda", "--coils", "4", "--out", "x"])
    resolve_defaults(args)
    assert (args.coils, args.out_dir) == (4, "x")


def test_default_methods_are_the_registered_ones_for_each_suite():
    from inr_core.methods import get_method, list_methods
    from pipelines.benches.options import default_methods
    from pipelines.benches.suite import is_inr

    for suite in ("cartesian", "radial"):
        names = default_methods(suite)
        expected = {m.name for m in list_methods() if suite in m.trajectories} - {"gen-inr"}  # gen-inr: own suite
        expected |= {"grasp@converged"} if suite == "radial" else set()  # GRASP near its best at 5 spokes too
        assert set(names) == expected and len(names) == len(expected)
        assert {"llr", "lr-inr", "zero-filled", "cg-sense"} <= set(names)
        assert names[0] == "zero-filled"  # the baseline first, the INRs after every classical method
        assert [is_inr(n) for n in names] == sorted(is_inr(n) for n in names)
    assert "kp-inr" in default_methods("cartesian") and "da-inr" not in default_methods("cartesian")
    assert "da-inr" in default_methods("radial") and "kt-grappa" not in default_methods("radial")
    classical = default_methods("classical")
    assert "llr" in classical and not any(is_inr(n) for n in classical)
    assert all({"cartesian", "radial"} <= set(get_method(n).trajectories) for n in classical)
    assert default_methods("streaming") == classical
