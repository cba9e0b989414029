"""``replay --method kp-inr --preset fast`` on the tiny sample file, shortened with ``--set``."""

import json
from pathlib import Path

import h5py

from pipelines.cli import main

TINY = Path(__file__).resolve().parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"


def test_kp_inr_fast_preset_replays_the_tiny_sample(tmp_path, capsys):
    out = tmp_path / "kp.h5"
    # The preset as shipped, with the schedule cut to a few epochs so that the test stays fast.
    assert main(["replay", str(TINY), "--method", "kp-inr", "--preset", "fast", "--set", "steps=4",
                 "--set", "refresh_every=2", "--device", "cpu", "--no-progress", "-o", str(out)]) == 0
    with h5py.File(out, "r") as f:
        assert len(f) >= 1
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", str(TINY), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 6 and summary["psnr_mean"] > 10
