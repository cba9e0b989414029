"""tests/gpu/check_all.sh on the CPU: the part that keeps a GPU run inside its 8 minutes.

The whole rehearsal (`GPU_CHECK_REHEARSAL=1 bash tests/gpu/check_all.sh`, every stage at a tiny size) takes
about two minutes here, too long for the suite; it is documented in the script's header and in
docs/methods-inr-ceilings.md. This test runs the rehearsal's slowest stage (DA-INR `fast`, ~40 s) under a
10-second stage limit and a 15-second total: the stage must be killed with its spawned child processes, the
next stage must be skipped for want of time, and the summary must still be written."""

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; bash and coreutils timeout")
def test_a_stage_past_its_limit_is_killed_with_its_children_and_the_summary_is_written(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    env = {**os.environ, "GPU_CHECK_REHEARSAL": "1", "GPU_CHECK_STAGES": "da-inr gen-inr",
           "GPU_CHECK_TIMEOUT_da_inr": "10", "GPU_CHECK_TOTAL": "15", "GPU_CHECK_WORK": str(work),
           "OUT": str(results), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
           "CHECK_ALL_TEST_MARKER": str(tmp_path)}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=150)
    log = (results / "bench.log").read_text() if (results / "bench.log").exists() else done.stderr
    assert done.returncode == 124, log[-3000:]
    assert processes_with(f"CHECK_ALL_TEST_MARKER={tmp_path}") == [], "a killed stage left processes behind"
    summary = json.loads((results / "summary.json").read_text())
    stages = {s["stage"]: s for s in summary["stages"]}
    assert stages["da-inr"]["timed_out"] and stages["da-inr"]["timeout"] == 10
    assert stages["gen-inr"]["status"] == "not-run"
    assert "da-inr: TIMED OUT" in (results / "summary.md").read_text()
    assert "check_all.sh rehearsal=1 device=cpu" in (results / "environment.txt").read_text()


def test_bad_knobs_are_refused_before_any_work(tmp_path):
    for knob, value, message in [("GPU_CHECK_STAGES", "lr-cartesian gpu", "unknown stage 'gpu'"),
                                 ("GPU_CHECK_TOTAL", "8m", "GPU_CHECK_TOTAL must be a whole number"),
                                 ("GPU_CHECK_TIMEOUT_kp_inr", "0", "GPU_CHECK_TIMEOUT_kp_inr must be"),
                                 ("GPU_CHECK_REHEARSAL", "yes", "GPU_CHECK_REHEARSAL must be 0 or 1")]:
        env = {**os.environ, knob: value, "GPU_CHECK_WORK": str(tmp_path / "work"), "OUT": str(tmp_path / "out")}
        done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and message in done.stderr, (knob, done.stderr)
        assert not (tmp_path / "work").exists()
