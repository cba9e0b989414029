"""Keep freed memory in the process: glibc's allocator set once, at process start, by every entry point.

Why: glibc serves every block of 32 MiB or more (and smaller ones under its adaptive threshold)
with a fresh ``mmap`` and gives it back to the kernel on ``free``, and it trims the top of the heap
whenever more than twice that is free there. A reconstruction that makes large temporaries again
and again (an FFT of a coil-expanded cine, an ESPIRiT or NUFFT grid) then has the kernel map and
zero the same memory every time: measured, half the CPU time of a classical reconstruction was
system time before the methods kept their own buffers (docs/classical-methods.md, "Allocation").
The methods' inner loops allocate little now (``inr_core.operators.normal``); this setting catches
what is left around them (front end, set-up, other libraries' temporaries).

How: ``mallopt`` through ctypes, the same as glibc's ``MALLOC_*_`` environment variables but
without asking a user (or Gadgetron) to set them:

- ``M_MMAP_THRESHOLD`` (-3) = 1 GiB: blocks below it come from the heap, and the threshold stays
  fixed instead of adapting. At 32 MiB (the largest glibc picks by itself) a coil-expanded
  192x192x16x10 cine (47 MiB) or its 2x NUFFT grid (189 MiB) would still be mapped afresh on every
  allocation (measured: tests/inr_core/test_allocator.py's 40 MiB block faulted in every round);
- ``M_TRIM_THRESHOLD`` (-1) = -1: never give freed heap memory back to the kernel;
- ``M_TOP_PAD`` (-2) = 64 MiB: grow the heap in large steps (fewer ``brk`` calls). Kept moderate: it
  is address space, which a machine with strict overcommit accounting counts against its limit.

The price: the process keeps its peak heap (resident set does not fall after a large scan). The
environment variable ``GADGETRON_INR_MALLOC`` chooses: ``keep`` (default) as above, ``system``
glibc's own defaults (for comparison runs). Off glibc (macOS, musl) it does nothing.
Entry points: ``pipelines.cli.main`` (every command: replay, bench, serve, worker, ...),
``gadgets.base.Gadget.handle`` (a gadget started by Gadgetron) and ``pipelines.benches.suite.run_one`` (the
benches' spawned children).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

ENV = "GADGETRON_INR_MALLOC"
MODES = ("keep", "system")
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = ((M_MMAP_THRESHOLD, 2**30), (M_TRIM_THRESHOLD, -1), (M_TOP_PAD, 64 * 2**20))

_applied: str | None = None


def _glibc():
    """glibc's ``mallopt``, or None where the C library is another one."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl does not)
    except (OSError, AttributeError):
        return None
    return libc.mallopt


def keep_freed_memory() -> str:
    """Apply ``GADGETRON_INR_MALLOC`` once per process; returns what holds: ``keep``, ``system`` or
    ``unsupported`` (not glibc). Later calls return the first call's answer and change nothing.

    A value other than ``keep`` or ``system`` is one line on stderr and exit code 2 (it is read
    before any command runs, so there is no caller to hand an exception to)."""
    global _applied
    if _applied is not None:
        return _applied
    mode = os.environ.get(ENV, "keep").strip().lower() or "keep"
    if mode not in MODES:
        print(f"gadgetron-inr: error: {ENV}={os.environ[ENV]!r}: expected one of {', '.join(MODES)}", file=sys.stderr)
        raise SystemExit(2)
    mallopt = _glibc() if mode == "keep" else None
    if mode == "keep" and mallopt is None:
        mode = "unsupported"
    elif mallopt is not None:
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        for param, value in SETTINGS:
            if mallopt(param, value) != 1:  # glibc refused the value: say so, keep going with its defaults
                log.warning("allocator: mallopt(%d, %d) refused; glibc's default kept", param, value)
    _applied = mode
    log.debug("allocator: %s", mode)
    return mode
