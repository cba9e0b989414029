"""Raw-file reading: readers of one file in one process must not crash each other."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"


def test_interleaved_readers_of_one_raw_file_do_not_crash_the_process():
    # The pattern that crashed the emulator's concurrent clients (h5py issue #2920): reader A reads,
    # reader B opens the same file, A finishes and closes, B reads on. With a handle per reader the
    # second read dereferences A's closed file (segfault); with the shared handle it is an ordinary read.
    # Run in a child so that a crash fails this test instead of killing the test session.
    code = textwrap.dedent(f"""
        import pipelines.files.ismrmrd_io as io
        from pipelines.streaming.emulator import read_waveforms
        io.CHUNK = 16  # several reads per pass over the small file
        raw = io.open_raw({str(TINY)!r})
        a, b = raw.acquisitions(), raw.acquisitions()
        next(a)
        next(b)
        read_waveforms(raw.path, raw.group)
        io.read_reference(raw.path)
        n = 1 + sum(1 for _ in a)  # A reaches the end and leaves the file
        m = 1 + sum(1 for _ in b)  # B reads on
        assert n == m == raw.count, (n, m, raw.count)
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
