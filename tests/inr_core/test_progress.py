"""inr_core.progress: a bar on a terminal, rate-limited log lines elsewhere (issue 23 item 5)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inr_core.progress import Progress, duration

ROOT = Path(__file__).parents[2]
TINY = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "inr_core.progress"]


def test_log_lines_one_per_stage_and_at_most_every_few_seconds_per_loop(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="inr_core.progress"):
        with Progress("replay llr", terminal=False, every_s=5.0, clock=clock) as progress:
            progress(0, 1, "slice 0: coil maps")  # a stage
            for it in range(1, 101):  # a long loop: 1 s per step
                clock.now += 1.0
                progress(it, 100, f"slice 0: llr iteration {it}/100")
            progress(0, 1, "slice 1: coil maps")  # the next stage
    got = lines(caplog)
    assert got[0] == "replay llr: slice 0: coil maps"
    assert got[1] == "replay llr: slice 0: llr iteration 1/100"
    periodic = [g for g in got if "ETA" in g]
    # 99 steps after the first at 1 s each: a line at most every 5 s, not one per step
    assert 15 <= len(periodic) <= 20
    assert "llr iteration 6/100, ETA 1 min 34 s" in periodic[0]  # 94 steps left at 1 s each
    assert got[-2] == "replay llr: slice 0: llr iteration 100/100 (after 1 min 39 s)"  # the long loop ended
    assert got[-1] == "replay llr: slice 1: coil maps"
    assert not any("\r" in g for g in got)


def test_a_short_loop_says_only_that_it_started(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="inr_core.progress"):
        with Progress("x", terminal=False, clock=clock) as progress:
            progress(0, 1, "zero-filled")
            clock.now += 0.1
            progress(1, 1, "zero-filled done")
    assert lines(caplog) == ["x: zero-filled"]


def test_counting_is_rate_limited_and_disabled_reports_nothing(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="inr_core.progress"):
        with Progress("train", total=800, unit="steps", terminal=False, every_s=10.0, clock=clock) as p:
            for _ in range(800):
                clock.now += 0.125
                p.advance(1, "loss 0.1")
        # 100 s counted from the first step: one line per 10 s, not one per step
        assert len(lines(caplog)) == 9
        assert lines(caplog)[0] == "train: 81/800 steps, ETA 1 min 30 s, loss 0.1"
        assert lines(caplog)[-1] == "train: 721/800 steps, ETA 10 s, loss 0.1"
        caplog.clear()
        with Progress("quiet", terminal=False, enabled=False, clock=clock) as p:
            p(0, 1, "stage")
            p.advance(5)
        assert lines(caplog) == []


def test_on_a_terminal_it_is_a_bar(capsys):
    with Progress("bar", total=3, terminal=True) as progress:
        progress.advance(3)
        progress(1, 2, "step")
    err = capsys.readouterr().err
    assert "\r" in err and "bar" in err  # tqdm's in-place refresh: only where a person watches


@pytest.mark.parametrize(("seconds", "text"), [(4.4, "4 s"), (65, "1 min 05 s"), (3725, "1 h 02 min")])
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.timeout(120)
def test_replay_into_a_pipe_writes_no_carriage_returns(tmp_path):
    """What ``make demo > demo.log 2>&1`` gets: stderr is a pipe, so log lines and no bar refreshes."""
    out = tmp_path / "o.h5"
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "replay", str(TINY), "--method", "cg-sense",
                             "--device", "cpu", "-o", str(out)], cwd=ROOT, capture_output=True, timeout=110)
    assert result.returncode == 0, result.stderr.decode()
    assert b"\r" not in result.stderr and result.stdout == b""
    text = result.stderr.decode()
    assert "replay cg-sense: slice 0: coil maps" in text
    assert "replay cg-sense: slice 0: cg-sense iteration" in text


@pytest.mark.timeout(120)
def test_gadgets_under_gadgetron_log_progress_lines_to_stderr(tmp_path):
    """Each node as Gadgetron runs it (``python -m gadgetron`` children, whose logging goes to stderr):
    the reconstruction node reports its stages as lines, no bar."""
    env = {**os.environ, "GADGETRON_EXTERNAL_LOG_LEVEL": "INFO"}
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "replay", str(TINY), "--method", "cg-sense",
                             "--device", "cpu", "--external-processes", "-o", str(tmp_path / "o.h5")], cwd=ROOT,
                            capture_output=True, timeout=110, env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert b"\r" not in result.stderr and result.stdout == b""
    text = result.stderr.decode()
    assert "gadgets.cine_reconstruction.CineReconstruction] CineReconstruction: slice 0: coil maps" in text
    assert "CineReconstruction: slice 0: cg-sense iteration 1/" in text
