"""tests/gpu/check_all.sh on the CPU: the part that keeps a GPU run inside its 8 minutes.

The whole rehearsal (`GPU_CHECK_REHEARSAL=1 bash tests/gpu/check_all.sh`, every stage at a tiny size) takes
about two minutes here, too long for the suite; it is documented in the script's header and in
docs/methods-inr-ceilings.md. These tests run the rehearsal's slowest stage (DA-INR `fast`, 30-60 s here) under
a 10-second stage limit: it must be killed with its spawned child processes and the summary still written; a
stage with no time left must not start; bad knobs must be refused before any work."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "gpu" / "check_all.sh"


def processes_with(marker: str) -> list[str]:
    """Processes whose environment holds ``marker`` (the bench's spawned children do not name the work folder
    on their command lines, but inherit the environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(proc.name + ": " + (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone, or not ours to read
            continue
    return found


def rehearse(tmp_path, **knobs) -> tuple[subprocess.CompletedProcess, dict, Path]:
    results = tmp_path / "results"
    env = {**os.environ, "GPU_CHECK_REHEARSAL": "1", "GPU_CHECK_WORK": str(tmp_path / "work"), "OUT": str(results),
           "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, "CHECK_ALL_TEST_MARKER": str(tmp_path), **knobs}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=150)
    log = (results / "bench.log").read_text() if (results / "bench.log").exists() else done.stderr
    assert (results / "summary.json").exists(), log[-3000:]
    summary = json.loads((results / "summary.json").read_text())
    return done, {s["stage"]: s for s in summary["stages"]}, results


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; bash and coreutils timeout")
def test_a_stage_past_its_limit_is_killed_with_its_children_and_the_summary_is_written(tmp_path):
    done, stages, results = rehearse(tmp_path, GPU_CHECK_STAGES="da-inr", GPU_CHECK_TIMEOUT_da_inr="10")
    assert done.returncode == 124, done.stdout[-2000:]
    assert processes_with(f"CHECK_ALL_TEST_MARKER={tmp_path}") == [], "a killed stage left processes behind"
    assert stages["da-inr"]["timed_out"] and stages["da-inr"]["timeout"] == 10
    assert stages["da-inr"]["document"] is None
    assert "da-inr: TIMED OUT" in (results / "summary.md").read_text()
    assert "check_all.sh rehearsal=1 device=cpu" in (results / "environment.txt").read_text()


def test_a_stage_without_time_left_is_not_started(tmp_path):
    # GPU_CHECK_TOTAL counts from the script's start: 1 s is spent before the first stage (the import checks).
    done, stages, results = rehearse(tmp_path, GPU_CHECK_STAGES="gen-inr", GPU_CHECK_TOTAL="1")
    assert done.returncode == 124
    assert stages["gen-inr"]["status"] == "not-run" and not (tmp_path / "work" / "gen-inr").exists()
    assert "gen-inr: not run (no time left)" in (results / "summary.md").read_text()


def test_bad_knobs_are_refused_before_any_work(tmp_path):
    for knob, value, message in [("GPU_CHECK_STAGES", "lr-cartesian gpu", "unknown stage 'gpu'"),
                                 ("GPU_CHECK_TOTAL", "8m", "GPU_CHECK_TOTAL must be a whole number"),
                                 ("GPU_CHECK_TIMEOUT_kp_inr", "0", "GPU_CHECK_TIMEOUT_kp_inr must be"),
                                 ("GPU_CHECK_REHEARSAL", "yes", "GPU_CHECK_REHEARSAL must be 0 or 1")]:
        env = {**os.environ, knob: value, "GPU_CHECK_WORK": str(tmp_path / "work"), "OUT": str(tmp_path / "out")}
        done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and message in done.stderr, (knob, done.stderr)
        assert not (tmp_path / "work").exists()
