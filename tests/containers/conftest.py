"""The containerised cases' table (case, images, worst relative L2, seconds) in pytest's terminal
summary, and as ``container-results.json`` in pytest's base temp folder."""

from __future__ import annotations

import json

import pytest

RESULTS: list[dict] = []
RESULTS_FILE: list = []


def pytest_sessionstart(session):
    RESULTS_FILE.append(session.config._tmp_path_factory.getbasetemp() / "container-results.json")


@pytest.fixture
def record():
    """``record(case, seconds, images=None, rel_l2=None)``: a row of the table."""

    def add(case: str, seconds: float, images=None, rel_l2=None):
        RESULTS.append({"case": case, "seconds": round(seconds, 2), "images": images, "rel_l2": rel_l2})

    return add


def pytest_terminal_summary(terminalreporter, config):
    if not RESULTS:
        return
    terminalreporter.section("gadgetron-inr containers: cases")
    terminalreporter.write_line(f"{'case':82} {'images':>6} {'rel L2':>9} {'seconds':>8}")
    for row in RESULTS:
        l2 = f"{row['rel_l2']:.2e}" if row.get("rel_l2") is not None else "-"
        images = row["images"] if row["images"] is not None else "-"
        terminalreporter.write_line(f"{row['case']:82} {images:>6} {l2:>9} {row['seconds']:>8.2f}")
    RESULTS_FILE[0].write_text(json.dumps(RESULTS, indent=1))
    terminalreporter.write_line(f"(also in {RESULTS_FILE[0]})")
