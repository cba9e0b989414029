"""Output files, written one way: checked first, then through a temporary file in the same folder
renamed over the target, with the permissions a plain ``open`` would give.

A path that exists but is not a regular file (a directory, ``/dev/null``, ``/dev/full``) is refused:
renaming over it as root replaced the device node with an HDF5 file. A folder that cannot take a new
file (``/proc``, a read-only mount, a path below an existing file) is one clear error, not a
traceback, and nothing is left behind when the writing fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipelines.errors import UserError


def check_output(path: str | os.PathLike, what: str = "output") -> Path:
    """The output path, or UserError naming the problem; makes missing parent folders."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UserError(f"{what} {str(path)!r} exists and is not a regular file: choose a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} {str(path)!r} is below {str(parent)!r}, which is not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the folder of {what} {str(path)!r}: {exc.strerror}") from None
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, what: str = "output") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renamed to ``path`` if the block succeeds, removed if not."""
    path = check_output(path, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {what} {str(path)!r}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written output is the user's usual file
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
