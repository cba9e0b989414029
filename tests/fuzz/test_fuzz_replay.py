"""Seeded fuzz suite for ``gadgetron-inr replay`` (issue 14): mutated raw files in, one clear line out.

Each case mutates a copy of a valid raw file (``tests/fuzz/mutations.py``) and replays it with the
zero-filled method on the CPU. A case passes when the run either succeeds (exit 0, a readable image
file with finite values: the mutation was harmless) or fails cleanly (exit 2, exactly one
``gadgetron-inr: error:`` line, no ``Traceback``, no output file and no temporary file left), writes
nothing on stdout, and finishes within the timeout. Cases that could allocate without bound or hang
run in a subprocess under ``RLIMIT_AS``; the others run in-process (``pipelines.cli.main``) for speed.

``GADGETRON_INR_FUZZ=500`` runs 500 cases instead of the CI count (``docs/robustness.md``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutations import ISOLATED, MUTATIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"
CI_CASES = 40
COUNT = int(os.environ.get("GADGETRON_INR_FUZZ", CI_CASES) or CI_CASES)
SEED = int(os.environ.get("GADGETRON_INR_FUZZ_SEED", "14"))
TIMEOUT_S = 60
MEMORY_LIMIT = 6 * 1024**3
# The memory bombs always run, whatever the draw: they are what the bound is for.
ALWAYS = [("matrix-huge", "cartesian"), ("recon-huge", "radial"), ("slice-65535-all", "cartesian"),
          ("one-phase-many-reps", "cartesian")]
BY_NAME = {name: (category, mutate) for category, name, mutate in MUTATIONS}

_WRAPPER = """
import atexit, json, os, resource, sys
def _report():
    with open(os.environ["FUZZ_RSS_FILE"], "w") as f:
        json.dump(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, f)
atexit.register(_report)
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cases(count: int, seed: int) -> list[tuple[str, str, int]]:
    rng = np.random.default_rng(seed)
    pairs = [(name, source) for _, name, _ in MUTATIONS for source in ("cartesian", "radial")]
    chosen = list(ALWAYS)
    while len(chosen) < count:
        order = rng.permutation(len(pairs))
        chosen += [pairs[i] for i in order if pairs[i] not in chosen[:len(ALWAYS)]]
    return [(name, source, seed * 100003 + i) for i, (name, source) in enumerate(chosen[:count])]


CASES = _cases(COUNT, SEED)
RESULTS: list[dict] = []


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fuzz-sources")
    radial = folder / "radial.h5"
    subprocess.run([sys.executable, "-m", "pipelines.cli", "simulate", "--trajectory", "radial", "--matrix", "32",
                    "--frames", "4", "--coils", "2", "--spokes", "8", "-o", str(radial)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    return {"cartesian": SAMPLE, "radial": radial}


def summary_lines() -> list[str]:
    """The figures of this run (printed by ``conftest.pytest_terminal_summary``)."""
    if not RESULTS:
        return []
    per_category = Counter(r["category"] for r in RESULTS)
    outcome = Counter(r["outcome"] for r in RESULTS)
    rss = [r["rss_kib"] for r in RESULTS if r.get("rss_kib")]
    lines = [
        f"replay fuzz: {len(RESULTS)} cases (seed {SEED}) in {sum(r['seconds'] for r in RESULTS):.1f} s",
        "  per category: " + ", ".join(f"{k} {v}" for k, v in sorted(per_category.items())),
        f"  harmless (exit 0, valid images): {outcome['ok']}, clear errors (exit 2, one line): {outcome['error']}",
        f"  tracebacks: {outcome['traceback']}, hangs: {outcome['hang']}, leftovers: {outcome['leftover']}, "
        f"other failures: {outcome['bad']}",
        f"  subprocess cases: {sum(r['isolated'] for r in RESULTS)}, peak memory of a subprocess case: "
        f"{max(rss) / 1024 if rss else 0:.0f} MiB (bound {MEMORY_LIMIT / 1024**3:.0f} GiB), "
        f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
    ]
    report = os.environ.get("GADGETRON_INR_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(RESULTS, indent=1))
    return lines


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_isolated(argv: list[str], rss_file: Path) -> tuple[int | None, str, str]:
    env = dict(os.environ, FUZZ_RSS_FILE=str(rss_file), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_limit_memory, text=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err


def _run_inprocess(argv: list[str]) -> tuple[int, str, str]:
    from pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - what the real command would print as a traceback
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


def _valid_images(path: Path) -> bool:
    from pipelines.files.ismrmrd_io import read_images

    try:
        series = read_images(path)
    except Exception:  # noqa: BLE001
        return False
    return all(np.isfinite(s.data).all() and s.data.size for s in series)


@pytest.mark.parametrize(("name", "source", "seed"), CASES, ids=[f"{n}-{s}-{i}" for i, (n, s, _) in enumerate(CASES)])
def test_fuzz_replay(name, source, seed, sources, tmp_path):
    category, mutate = BY_NAME[name]
    raw = tmp_path / "in" / "mutated.h5"
    raw.parent.mkdir()
    mutate(sources[source], raw, np.random.default_rng(seed))
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "images.h5"
    argv = ["replay", str(raw), "--method", "zero-filled", "--device", "cpu", "--no-progress", "-o", str(out)]
    isolated = name in ISOLATED
    rss_file = tmp_path / "rss.json"
    start = time.monotonic()
    code, stdout, stderr = _run_isolated(argv, rss_file) if isolated else _run_inprocess(argv)
    seconds = time.monotonic() - start
    errors = [line for line in stderr.splitlines() if line.startswith("gadgetron-inr: error:")]
    left = sorted(p.name for p in folder.iterdir() if p.name != "images.h5" or code != 0)
    if code is None:
        outcome = "hang"
    elif "Traceback" in stderr:
        outcome = "traceback"
    elif left:
        outcome = "leftover"
    elif code == 0 and not stdout and not errors and _valid_images(out):
        outcome = "ok"
    elif code == 2 and not stdout and len(errors) == 1:
        outcome = "error"
    else:
        outcome = "bad"
    RESULTS.append({"name": name, "source": source, "category": category, "outcome": outcome, "code": code,
                    "isolated": isolated, "seconds": seconds, "error": errors[0] if errors else None,
                    "rss_kib": json.loads(rss_file.read_text()) if rss_file.exists() else None})
    assert outcome in ("ok", "error"), (
        f"{name} on {source}: {outcome}, exit {code}, left {left}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-4000:]}")


def test_espirit_linalg_failure_is_one_value_error(monkeypatch):
    """A corrupt file once ended in ``LinAlgError: SVD did not converge``; now a ValueError with a message."""
    import sigpy.mri
    import torch

    from inr_core.coils import espirit_maps

    def fail(self):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(sigpy.mri.app.EspiritCalib, "run", fail)
    calib = torch.zeros(2, 32, 32, dtype=torch.complex64)
    calib[:, 8:24, 8:24] = 1
    with pytest.raises(ValueError, match="ESPIRiT calibration failed .*SVD did not converge"):
        espirit_maps(calib)
