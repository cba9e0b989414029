"""Fixtures for the tests against a real Gadgetron: the server (one per session), replay references,
and a results table (case, images, relative L2, scale, seconds) shown in pytest's terminal summary
and written to ``integration-results.json`` in pytest's base temp folder."""

from __future__ import annotations

import json
import time

import pytest
from gadgetron_harness import Gadgetron, gadgetron_prefix

from pipelines.files.ismrmrd_io import open_raw, write_images
from pipelines.streaming.host import Pipeline

PREFIX = gadgetron_prefix()
RESULTS: list[dict] = []
RESULTS_FILE: list = []  # where the table goes, once a session has a temp folder


@pytest.fixture(scope="session")
def gadgetron(tmp_path_factory):
    if not (PREFIX / "bin" / "gadgetron").is_file():
        pytest.skip(f"no Gadgetron server at {PREFIX}/bin/gadgetron: build it with ../shared/tools/build-gadgetron "
                    "(or set GADGETRON_PREFIX)")
    RESULTS_FILE.append(tmp_path_factory.getbasetemp() / "integration-results.json")
    server = Gadgetron.start(PREFIX, tmp_path_factory.mktemp("gadgetron"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """``reference(raw_path, pipeline, overrides)`` -> an image file written as ``gadgetron-inr replay``
    writes it (the embedded host, in-process), computed once per case key."""
    made: dict = {}
    folder = tmp_path_factory.mktemp("replay")

    def make(raw_path, pipeline: str, overrides: dict | None = None):
        key = (str(raw_path), pipeline, tuple(sorted((overrides or {}).items())))
        if key not in made:
            raw = open_raw(raw_path)
            images = Pipeline.load(pipeline, dict(overrides or {})).run(raw.header, raw.acquisitions())
            path = folder / f"replay_{len(made)}.h5"
            write_images(path, images, raw.header_xml)
            made[key] = path
        return made[key]

    return make


@pytest.fixture
def record(gadgetron):
    """``record(case, seconds, comparison=None, **extra)``; also asserts Gadgetron's stdout is still
    empty (upstream's tests fail on any output there: children share it)."""

    def add(case: str, seconds: float, comparison=None, **extra):
        row = {"case": case, "seconds": round(seconds, 2)}
        if comparison is not None:
            row.update(images=comparison.images, rel_l2=comparison.rel_l2, scale=comparison.scale)
        row.update(extra)
        RESULTS.append(row)
        assert gadgetron.stdout() == b"", f"Gadgetron's stdout is not empty: {gadgetron.stdout()[:500]!r}"

    return add


@pytest.fixture
def stopwatch():
    return time.monotonic


def pytest_terminal_summary(terminalreporter, config):
    if not RESULTS:
        return
    terminalreporter.section("Gadgetron 4.7.2 integration cases")
    terminalreporter.write_line(f"{'case':70} {'images':>6} {'rel L2':>9} {'scale':>8} {'seconds':>8}")
    for row in RESULTS:
        l2 = f"{row['rel_l2']:.2e}" if "rel_l2" in row else "-"
        scale = f"{row['scale']:.5f}" if "scale" in row else "-"
        terminalreporter.write_line(f"{row['case']:70} {row.get('images', '-'):>6} {l2:>9} {scale:>8} "
                                    f"{row['seconds']:>8.2f}")
    path = RESULTS_FILE[0]
    path.write_text(json.dumps(RESULTS, indent=1))
    terminalreporter.write_line(f"(also in {path})")
