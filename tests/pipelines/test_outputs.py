"""Output files: refused when they are not regular files or cannot be written, one line each,
written with the user's usual permissions, and nothing left behind by a failed run."""

import os
import stat
from pathlib import Path

from pipelines.cli import main

TINY = Path(__file__).parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"


def replay(out, *extra):
    return main(["replay", str(TINY), "--method", "zero-filled", "--device", "cpu", "--no-progress", "-o", str(out),
                 *map(str, extra)])


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("gadgetron-inr: error:")]
    assert len(lines) == 1 and "Traceback" not in captured.err and captured.out == ""
    return lines[0]


def test_a_fifo_or_a_folder_is_not_replaced(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # stands in for /dev/null or /dev/full, which a root run once replaced by a file
    assert replay(fifo) == 2
    assert "is not a regular file" in one_error_line(capsys)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert replay(tmp_path) == 2
    assert "is not a regular file" in one_error_line(capsys)


def test_a_path_below_a_file_or_in_proc_is_one_line(tmp_path, capsys):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert replay(plain / "out.h5") == 2
    assert "which is not a folder" in one_error_line(capsys)
    assert replay("/proc/gadgetron-inr-test.h5") == 2
    assert "cannot write image file" in one_error_line(capsys)
    assert plain.read_text() == "x"


def test_outputs_get_the_usual_permissions(tmp_path):
    out = tmp_path / "out.h5"
    assert replay(out) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask
    assert not list(tmp_path.glob(".*partial"))


def test_a_failing_preview_leaves_nothing_and_says_so(tmp_path, capsys, monkeypatch):
    import pipelines.files.preview

    def broken(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr(pipelines.files.preview, "write_preview", broken)
    out = tmp_path / "out.h5"
    assert replay(out, "--preview", tmp_path / "p.png") == 2
    line = one_error_line(capsys)
    assert "preview" in line and "no display" in line and "no images written" in line
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
    assert replay(out, "--preview", tmp_path) == 2  # a folder: refused before any work
    assert "preview" in one_error_line(capsys) and not out.exists()


def _pipeline(tmp_path, module, target):
    path = tmp_path / f"{target}.xml"
    path.write_text(f'<?xml version="1.0"?><configuration><version>2</version><stream><external>'
                    f'<execute name="{module}" target="{target}" type="python"/><configuration/></external>'
                    f'</stream></configuration>')
    return path


def test_a_chain_that_returns_no_images_is_one_line_and_no_file(tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert replay(out, "--pipeline", _pipeline(tmp_path, "gadgets.base", "Gadget")) == 2
    assert "is a base class, not a gadget" in one_error_line(capsys)
    noise_only = _pipeline(tmp_path, "gadgets.noise", "NoisePrewhitening")
    assert replay(out, "--pipeline", noise_only) == 2  # --method: no node of this chain declares it
    assert "no setting 'method'" in one_error_line(capsys)
    assert main(["replay", str(TINY), "--pipeline", str(noise_only), "--no-progress", "-o", str(out)]) == 2
    assert "176 items that are not images (Acquisition)" in one_error_line(capsys)
    assert not out.exists()
