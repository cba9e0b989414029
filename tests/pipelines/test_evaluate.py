"""``gadgetron-inr evaluate``: images written by replay scored against /reference/images."""

import json

import h5py
import pytest
from pipeline_helpers import TEST_METHOD, disc_raw

from pipelines.cli import main


@pytest.fixture
def replayed(small_raw, tmp_path):
    out = tmp_path / "images.h5"
    assert main(["replay", str(small_raw), "-o", str(out), "--method", TEST_METHOD, "--no-progress",
                 "--set", "calibration_width=12"]) == 0
    return out, small_raw


@pytest.mark.parametrize("protocol", ["kp-inr", "da-inr"])
def test_json_summary(replayed, capsys, protocol):
    out, raw = replayed
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", str(raw), "--protocol", protocol, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("psnr_mean", "psnr_std", "ssim_mean", "ssim_std", "nrmse_mean", "frames", "protocol"):
        assert key in summary
    assert summary["frames"] == 4 and summary["protocol"] == protocol
    assert summary["ssim_mean"] > 0.8 and summary["psnr_mean"] > 20  # fully sampled, noiseless


def test_table(replayed, capsys):
    out, raw = replayed
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", str(raw)]) == 0
    text = capsys.readouterr().out
    assert "PSNR" in text and "SSIM" in text and "NRMSE" in text and "±" in text


def test_reference_problems_are_user_errors(replayed, tmp_path, capsys):
    out, _ = replayed
    other = disc_raw(tmp_path / "other.h5", frames=3)
    no_ref = disc_raw(tmp_path / "noref.h5", reference=False)
    for reference, words in ((other, "does not match"), (no_ref, "no /reference/images")):
        capsys.readouterr()
        assert main(["evaluate", str(out), "--reference", str(reference)]) == 2
        assert words in capsys.readouterr().err
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    assert main(["evaluate", str(tmp_path / "empty.h5"), "--reference", str(other)]) == 2
    assert "holds no ISMRMRD images" in capsys.readouterr().err
