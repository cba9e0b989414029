"""Prints the replay fuzz suite's figures (``test_fuzz_replay.summary_lines``) at the end of the run."""

import sys


def pytest_terminal_summary(terminalreporter):
    for module in list(sys.modules.values()):
        lines = getattr(module, "summary_lines", None)
        if callable(lines) and getattr(module, "RESULTS", None) is not None:
            for line in lines():
                terminalreporter.write_line(line)
            return
