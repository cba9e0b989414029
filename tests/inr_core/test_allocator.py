"""The process allocator setting (inr_core.allocator): applied once, switchable, refused when misspelt.

Each case runs in a fresh interpreter: the setting is per process and applied only once there."""

import os
import subprocess
import sys

import pytest

from inr_core.allocator import _glibc

# Allocate, touch and free a 40 MiB block (above glibc's largest adaptive mmap threshold, 32 MiB) ten
# times; print the mode and the minor page faults per round after the first.
PROBE = """
import ctypes, resource
from inr_core.allocator import keep_freed_memory
mode = keep_freed_memory()
assert keep_freed_memory() == mode  # applied once; later calls change nothing
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 40 * 2**20
small = libc.malloc(4096)  # a heap exists before the large block, as in any real process
def rounds(n):
    for _ in range(n):
        p = libc.malloc(size)
        ctypes.memset(p, 1, size)
        libc.free(p)
rounds(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(10)
print(mode, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10 / (size // 4096))
"""


def _probe(value):
    env = {**os.environ, "GADGETRON_INR_MALLOC": value}
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(_glibc() is None, reason="the setting is glibc's; elsewhere it does nothing")
def test_kept_memory_is_not_faulted_in_again_and_system_is_the_control():
    keep, system = _probe("keep"), _probe("system")
    assert keep.returncode == 0 and system.returncode == 0, keep.stderr + system.stderr
    (keep_mode, keep_share), (system_mode, system_share) = keep.stdout.split(), system.stdout.split()
    assert (keep_mode, system_mode) == ("keep", "system")
    # pages faulted in per round, as a share of the block: glibc's default maps it afresh every time
    assert float(system_share) > 0.9, system.stdout
    assert float(keep_share) < 0.05, keep.stdout


def test_a_misspelt_mode_is_one_line_and_exit_code_2():
    result = _probe("kepe")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gadgetron-inr: error: GADGETRON_INR_MALLOC='kepe': expected one of keep, system"]


@pytest.mark.parametrize("entry", [
    "from pipelines.cli import main; main(['methods'])",  # every command: replay, bench, serve, worker, ...
    "from gadgets.base import Gadget; Gadget().handle(None)",  # a gadget Gadgetron started
    "from pipelines.benches.suite import run_one; run_one('missing.h5', 'zero-filled', 'cpu', '.')",  # a bench's child
])
def test_every_entry_point_applies_it_first(entry):
    # A misspelt mode stops each entry point before it does anything else: so each one applies the setting.
    env = {**os.environ, "GADGETRON_INR_MALLOC": "kepe"}
    result = subprocess.run([sys.executable, "-c", entry], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "GADGETRON_INR_MALLOC='kepe'" in result.stderr and "Traceback" not in result.stderr
