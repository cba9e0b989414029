"""``gadgetron-inr train gen-inr``: on the simulation and on a folder of fully sampled raw files,
with its refusals as one line and exit code 2."""

import json

from pipelines.cli import main
from pipelines.commands.simulate import simulate_file

TINY = ["--steps", "2", "--batch", "1", "--pixels", "64", "--val-samples", "1", "--val-every", "2", "--no-progress",
        "--prior-iterations", "1"]


def test_train_on_the_simulation_writes_loadable_weights(tmp_path, capsys):
    from inr_core.methods.inr.gen_inr.method import load_weights

    out = tmp_path / "w.pt"
    assert main(["train", "gen-inr", "-o", str(out), "--sizes", "32", "--coils", "4", "5", *TINY]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 2 and report["history"][-1]["step"] == 2
    _, trained, digest = load_weights(out)
    assert digest == report["sha256"] and trained["matrix_range"] == [32, 32] and trained["min_coils"] == 4
    assert (tmp_path / "w.pt.ckpt").exists()
    assert "train gen-inr" in trained["command"]


def test_train_on_a_folder_of_fully_sampled_raw_files(tmp_path, capsys):
    folder = tmp_path / "raw"
    folder.mkdir()
    for seed in (0, 1):
        simulate_file(folder / f"full{seed}.h5", pattern="equispaced", acceleration=1, frames=2, matrix=32, coils=4,
                      seed=seed)
    out = tmp_path / "site.pt"
    assert main(["train", "gen-inr", "-o", str(out), "--raw", str(folder), *TINY]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 2 and out.exists()


def test_refusals_are_one_line(tmp_path, capsys):
    folder = tmp_path / "raw"
    folder.mkdir()
    simulate_file(folder / "under.h5", pattern="equispaced", acceleration=4, frames=2, matrix=32, coils=4)
    assert main(["train", "gen-inr", "-o", str(tmp_path / "x.pt"), "--raw", str(folder), *TINY]) == 2
    err = capsys.readouterr().err
    assert "not fully sampled" in err and "Traceback" not in err
    assert main(["train", "gen-inr", "-o", str(tmp_path / "y.pt"), "--resume", *TINY]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", "gen-inr", "-o", str(tmp_path / "z.pt"), "--raw", str(tmp_path / "empty"), *TINY]) == 2
    assert "no ISMRMRD raw files" in capsys.readouterr().err
