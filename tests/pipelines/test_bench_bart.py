"""``bench classical --against bart``: BART's file layout, its units, its scores, and its absence."""

import json
import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.benches import bart as bench_bart
from pipelines.benches.suite import run_one
from pipelines.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
TINY = SAMPLES / "cine_tiny_ktuniform_R4.h5"  # 48x48, 6 frames, 4 coils, kt-uniform R=4
needs_bart = pytest.mark.skipif(bench_bart.bart_executable() is None, reason="bart is not installed")


def _bart(*args):
    subprocess.run(["bart", *map(str, args)], check=True, capture_output=True)


def test_cfl_round_trip_keeps_shape_and_values(tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((5, 4, 1, 3)) + 1j * rng.standard_normal((5, 4, 1, 3))).astype(np.complex64)
    bench_bart.write_cfl(tmp_path / "a", array)
    dims = (tmp_path / "a.hdr").read_text().splitlines()[1].split()
    assert dims == ["5", "4", "1", "3"] + ["1"] * 12
    np.testing.assert_array_equal(bench_bart.read_cfl(tmp_path / "a"), array)


@needs_bart
def test_cfl_layout_is_bart_column_major(tmp_path):
    # BART's dimension 0 must be numpy's axis 0: a slice of dim 0 / dim 1 taken by bart itself.
    array = (np.arange(12).reshape(4, 3) * (1 + 0.5j)).astype(np.complex64)
    bench_bart.write_cfl(tmp_path / "a", array)
    _bart("slice", 0, 1, tmp_path / "a", tmp_path / "row")
    _bart("slice", 1, 2, tmp_path / "a", tmp_path / "column")
    np.testing.assert_array_equal(bench_bart.read_cfl(tmp_path / "row").ravel(), array[1])
    np.testing.assert_array_equal(bench_bart.read_cfl(tmp_path / "column").ravel(), array[:, 2])


@needs_bart
def test_radial_trajectory_units_and_orientation_match_bart(tmp_path):
    # Our (kx, ky) in cycles/FOV, written as BART's trajectory, give BART's NUFFT our NUFFT's samples.
    from inr_core.operators import RadialNUFFT

    n, spokes, samples = 32, 5, 64
    angles = torch.arange(spokes) * np.pi * (np.sqrt(5) - 1) / 2
    radius = torch.arange(samples) / 2 - samples / 4  # 2x oversampled spokes, as the chain keeps them
    traj = torch.stack([radius[None] * torch.cos(angles)[:, None], radius[None] * torch.sin(angles)[:, None]], -1)
    image = torch.zeros(n, n, dtype=torch.complex64)
    image[8:20, 12:16], image[4:8, 6:26] = 1, 2j  # asymmetric in x and y
    ours = RadialNUFFT(traj[None], (n, n))(image[None, None]).numpy().reshape(spokes, samples)
    bench_bart.write_cfl(tmp_path / "img", image.numpy().T)  # (ny, nx) -> BART (x, y)
    bench_bart.write_cfl(tmp_path / "traj", bench_bart.radial_trajectory(traj[None].numpy()))
    _bart("nufft", tmp_path / "traj", tmp_path / "img", tmp_path / "k")
    theirs = bench_bart.read_cfl(tmp_path / "k").reshape(samples, spokes, order="F").T
    assert np.linalg.norm(theirs - ours) / np.linalg.norm(ours) < 0.02


def test_layouts_put_frames_in_dim_10_and_coils_in_dim_3():
    kspace = np.zeros((6, 4, 16, 20), np.complex64)  # (T, C, ny, nx)
    kspace[5, 3, 15, 19] = 1
    bart = bench_bart.cartesian_kspace(kspace)
    assert bart.shape == (20, 16, 1, 4, 1, 1, 1, 1, 1, 1, 6) and bart[19, 15, 0, 3, ..., 5] == 1
    mask = np.zeros((6, 16), bool)
    mask[2, 7] = True
    pattern = bench_bart.cartesian_pattern(mask, 20)
    assert pattern.shape == (20, 16, 1, 1, 1, 1, 1, 1, 1, 1, 6) and pattern[:, 7, ..., 2].all()
    assert pattern.sum() == 20
    images = np.arange(20 * 16 * 6).reshape(20, 16, 1, 1, 1, 1, 1, 1, 1, 1, 6, order="F").astype(np.complex64)
    back = bench_bart.images_from_bart(images, 6)
    assert back.shape == (6, 16, 20) and back[5, 15, 19] == images[19, 15, ..., 5]


@needs_bart
def test_bart_rows_score_well_above_zero_filled_on_the_same_file(tmp_path):
    zero_filled = run_one(TINY, "zero-filled", "cpu", tmp_path)
    rows = bench_bart.rows_for(TINY, tmp_path)
    by_name = {r["method"]: r for r in rows}
    assert set(by_name) == {r.name for r in bench_bart.recons_for("cartesian")}
    # Measured on this file: zero-filled 26.8 dB; BART LLR 33.8, TV 36.2, ecalib + LLR 33.6 dB. A wrong
    # layout, trajectory or scale lands far below zero-filled, not a few dB under these.
    for row in rows:
        assert row["psnr_mean"] > zero_filled["psnr_mean"] + 5, row["method"]
        assert row["ssim_mean"] > zero_filled["ssim_mean"] and row["bart_seconds"] > 0
        assert row["frames"] == 6 and row["protocol"] == "kp-inr"
    # The kp-inr protocol divides by the reference maximum only: BART's images are on the object's scale.
    from pipelines.commands.evaluate import load_pair

    recon, reference = load_pair(by_name["bart pics LLR"]["images"], TINY)
    assert 0.9 < recon.max() / reference.max() < 1.1


def test_against_bart_without_bart_skips_with_one_clear_message(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with caplog.at_level(logging.WARNING):
        assert main(["bench", "classical", "--raw", str(TINY), "--methods", "zero-filled", "--device", "cpu",
                     "--against", "bart", "--out-dir", str(tmp_path)]) == 0
    assert [r["method"] for r in json.loads((tmp_path / "results.json").read_text())] == ["zero-filled"]
    assert "bart not found on the PATH" in (tmp_path / "results.md").read_text()
    assert sum("bart not found on the PATH" in r.getMessage() for r in caplog.records) == 1
