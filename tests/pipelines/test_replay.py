"""``gadgetron-inr replay`` end to end, and its refusals of bad input."""

import os
import shutil
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest
from pipeline_helpers import TEST_METHOD, disc_raw, helpers, make_acq, make_header, write_raw

from pipelines.cli import main
from pipelines.files.ismrmrd_io import read_images


def replay(*args):
    # A narrow calibration region keeps ESPIRiT fast on the tiny test matrices.
    return main(["replay", *map(str, args), "--method", TEST_METHOD, "--device", "cpu", "--no-progress",
                 "--set", "calibration_width=12"])


def corr(a, b):
    return float(np.corrcoef(np.abs(a).ravel(), np.abs(b).ravel())[0, 1])


@pytest.mark.timeout(300)
def test_shepp_logan_from_ismrmrd_tools_resembles_the_phantom(shepp_logan, tmp_path, capsys):
    out, png = tmp_path / "out.h5", tmp_path / "preview.png"
    assert replay(shepp_logan, "-o", out, "--preview", png) == 0
    assert capsys.readouterr().out == ""  # nothing on stdout, ever
    (series,) = read_images(out)
    frames = series.frames()
    assert frames.shape == (1, 20, 64, 64)  # repetitions are the frames; oversampling removed
    with h5py.File(shepp_logan, "r") as f:
        phantom = f["dataset/phantom"][()]
    phantom = np.abs(phantom["real"] + 1j * phantom["imag"])[0]
    assert corr(frames[0].mean(0), phantom) > 0.8
    assert png.stat().st_size > 1000
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.timeout(120)
def test_disc_cine_replay_and_property_override(small_raw, tmp_path):
    assert replay(small_raw, "-o", tmp_path / "a.h5") == 0
    assert replay(small_raw, "-o", tmp_path / "b.h5", "--set", "scale=2", "--pipeline", "cartesian") == 0
    a, b = read_images(tmp_path / "a.h5")[0], read_images(tmp_path / "b.h5")[0]
    np.testing.assert_allclose(b.data, 2 * a.data, rtol=1e-4, atol=1e-6)
    with h5py.File(small_raw, "r") as f:
        truth = f["reference/images"][()]
    assert corr(a.frames()[0, 2], truth[0, 2]) > 0.9


def bad_inputs(tmp_path):
    """name -> (path, expected words in the error)."""
    n, c = 16, 2
    good = disc_raw(tmp_path / "good.h5", frames=2, coils=c, n=n)
    truncated = tmp_path / "truncated.h5"
    shutil.copy(good, truncated)
    os.truncate(truncated, truncated.stat().st_size // 2)
    noise_only = write_raw(tmp_path / "noise.h5", make_header(nx=n, ny=n, channels=c),
                           [make_acq(np.ones((c, n)), flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])])
    spiral = write_raw(tmp_path / "spiral.h5", make_header(nx=n, ny=n, channels=c, trajectory="spiral"),
                       [make_acq(np.ones((c, n)), traj=np.zeros((n, 2)))])
    header_coils = write_raw(tmp_path / "coils.h5", make_header(nx=n, ny=n, channels=8),
                             [make_acq(np.ones((c, n)), line=i) for i in range(2)])
    mixed_coils = write_raw(tmp_path / "mixed.h5", make_header(nx=n, ny=n, channels=c),
                            [make_acq(np.ones((c, n))), make_acq(np.ones((c + 1, n)), line=1)])
    nan = np.ones((c, n), np.complex64)
    nan[1, 3] = np.nan
    nans = write_raw(tmp_path / "nan.h5", make_header(nx=n, ny=n, channels=c),
                     [make_acq(np.ones((c, n)), line=i) for i in range(3)] + [make_acq(nan, line=3)])
    return {
        "missing": (tmp_path / "missing.h5", ["does not exist"]),
        "truncated": (truncated, ["truncated or corrupt"]),
        "no imaging data": (noise_only, ["no imaging data"]),
        "unknown trajectory": (spiral, ["unsupported trajectory", "spiral"]),
        "header coil mismatch": (header_coils, ["coil-count mismatch", "8"]),
        "acquisition coil mismatch": (mixed_coils, ["coil-count mismatch", "acquisition 1"]),
        "nan": (nans, ["acquisition 3", "NaN"]),
    }


@pytest.mark.timeout(120)
def test_bad_inputs_exit_2_with_one_clear_line_and_no_output(tmp_path, capsys):
    for name, (path, words) in bad_inputs(tmp_path).items():
        out = tmp_path / f"out-{name.replace(' ', '_')}.h5"
        capsys.readouterr()
        assert replay(path, "-o", out) == 2, name
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert "Traceback" not in captured.err, name
        assert lines[-1].startswith("gadgetron-inr: error:"), (name, lines)
        assert sum("error" in line.lower() for line in lines) == 1, (name, lines)
        for word in words:
            assert word in lines[-1], (name, lines[-1])
        assert not out.exists(), name
        assert not list(tmp_path.glob("*.partial")), name
        assert captured.out == ""


def test_replay_never_modifies_its_input(small_raw, tmp_path):
    before = small_raw.read_bytes()
    os.chmod(small_raw, 0o444)
    try:
        assert replay(small_raw, "-o", tmp_path / "out.h5") == 0
    finally:
        os.chmod(small_raw, 0o644)
    assert small_raw.read_bytes() == before


def test_output_over_the_input_is_refused(small_raw, capsys):
    before = small_raw.read_bytes()
    assert replay(small_raw, "-o", small_raw) == 2
    assert "is the raw input file" in capsys.readouterr().err
    assert small_raw.read_bytes() == before


def test_bad_method_option_is_a_user_error(small_raw, tmp_path, capsys):
    assert replay(small_raw, "-o", tmp_path / "out.h5", "--set", "bogus=1") == 2
    err = capsys.readouterr().err
    assert "no setting 'bogus' (nearest: " in err and "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()


def test_radial_trajectory_too_large_is_a_user_error(tmp_path, capsys):
    n, c = 8, 2
    header = make_header(nx=n, ny=n, channels=c, phases=1, trajectory="radial")
    traj = np.stack([np.arange(n) * 4.0, np.zeros(n)], axis=1)
    raw = write_raw(tmp_path / "radial.h5", header, [make_acq(np.ones((c, n)), traj=traj)])
    assert main(["replay", str(raw), "-o", str(tmp_path / "o.h5"), "--no-progress", "--method", TEST_METHOD]) == 2
    assert "trajectory" in capsys.readouterr().err.splitlines()[-1]


def test_helpers_are_shared():
    assert helpers.TEST_METHOD == TEST_METHOD


@pytest.mark.timeout(300)
@pytest.mark.parametrize("trajectory, extra", [("cartesian", ["--acceleration", "4"]), ("radial", ["--spokes", "16"])])
def test_simulated_scan_through_the_default_pipeline_with_a_real_method(trajectory, extra, tmp_path, capsys):
    """simulate -> replay (noise prewhitening, oversampling removal, cine chain) -> evaluate."""
    import json

    raw, out = tmp_path / "raw.h5", tmp_path / "out.h5"
    assert main(["simulate", "-o", str(raw), "--trajectory", trajectory, *extra, "--frames", "4", "--matrix", "32",
                 "--coils", "4", "--seed", "3"]) == 0
    assert main(["replay", str(raw), "--method", "zero-filled", "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", str(raw), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # On the object's scale (kp-inr does not fit a scale): prewhitening and oversampling removal kept it.
    assert summary["frames"] == 4 and summary["psnr_mean"] > 20 and summary["ssim_mean"] > 0.7


REAL_RADIAL = Path(__file__).parents[2].parent / "shared" / "data" / "mdcnn_cardiac_cine_radial_frame_1coil.npy"


@pytest.mark.timeout(300)
@pytest.mark.skipif(not REAL_RADIAL.is_file(), reason="real radial frame not present (../shared/data)")
def test_real_radial_frame_through_the_radial_pipeline_matches_a_direct_reconstruction(tmp_path):
    """Real human k-space (MD-CNN radial cine, El-Rewaidy et al. 2021; see ../shared/data/README.md):
    416 samples per spoke, ~3x oversampled, centre at sample 209, k = (s - 209) / 3 cycles/FOV of a
    208 x 208 image. As an ISMRMRD file with a 2x-oversampling header it goes through oversampling
    removal, the cine buffer and the radial method; the image must match the same method run
    directly on the original spokes (trajectory kept consistent, scale kept)."""
    import torch

    from inr_core.data import RadialCine
    from inr_core.methods import get_method
    from pipelines.files.ismrmrd_io import open_raw
    from pipelines.streaming.host import Pipeline

    kspace = np.load(REAL_RADIAL).astype(np.complex64)  # (samples, spokes)
    samples, spokes = kspace.shape
    n = 208
    radius = (np.arange(samples) - 209) / 3.0
    angles = np.pi * np.arange(spokes) / spokes
    traj = np.stack([np.stack([radius * np.cos(a), radius * np.sin(a)], 1) for a in angles]).astype(np.float32)
    acqs = [make_acq(kspace[:, j][None], line=j, traj=traj[j], center_sample=209) for j in range(spokes)]
    raw = open_raw(write_raw(tmp_path / "real.h5", make_header(nx=n, ny=n, oversampling=2, channels=1,
                                                               trajectory="radial"), acqs))
    (image,) = Pipeline.load("radial", {"method": "zero-filled"}).run(raw.header, raw.acquisitions())
    direct = RadialCine(torch.from_numpy(kspace.T[None, None].copy()), torch.from_numpy(traj[None]), (n, n))
    expected = get_method("zero-filled")()(direct, torch.ones(1, n, n, dtype=torch.complex64))[0].abs().numpy()
    got = image.data[0, 0]
    assert got.shape == (n, n)
    assert corr(got, expected) > 0.99
    assert float((got * expected).sum() / (expected * expected).sum()) == pytest.approx(1.0, abs=0.05)
