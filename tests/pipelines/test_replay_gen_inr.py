"""``replay --method gen-inr`` (the shipped weights) on a Cartesian cine and on a single-frame scan."""

import json

import pytest

from pipelines.cli import main
from pipelines.commands.simulate import simulate_file


@pytest.mark.parametrize("frames", [3, 1])
def test_replay_gen_inr(tmp_path, capsys, frames):
    raw = simulate_file(tmp_path / "raw.h5", pattern="kt-gaussian", acceleration=4, frames=frames, matrix=64,
                        coils=8, seed=5, realistic=True)
    out = tmp_path / "out.h5"
    assert main(["replay", str(raw), "--method", "gen-inr", "--device", "cpu", "--no-progress", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["evaluate", str(out), "--reference", str(raw), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == frames and summary["psnr_mean"] > 25
