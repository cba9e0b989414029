"""`gadgetron-inr ARGS` without the entry point installed (an image's python3 with the project on PYTHONPATH).

The module comes from pyproject.toml's [project.scripts] line, the one place that names it, so the GPU check
follows a move of the command line's module without an edit. (A regular expression, not tomllib: Python 3.10
has none.)"""
import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def entry_point() -> tuple[str, str]:
    found = re.search(r'^gadgetron-inr\s*=\s*"([\w.]+):(\w+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    if found is None:
        sys.exit("gadgetron_inr.py: pyproject.toml names no `gadgetron-inr = \"module:function\"` script")
    return found.group(1), found.group(2)


if __name__ == "__main__":
    module, func = entry_point()
    sys.argv[0] = "gadgetron-inr"
    sys.exit(getattr(importlib.import_module(module), func)())
