"""Gadget tests import their helpers from ``gadget_helpers`` (a module name of its own: several
test folders have a conftest, and ``from conftest import`` would pick whichever loaded first)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import gadget_helpers  # noqa: E402,F401  - installs the test-only method
