"""Helpers for pipeline tests: small raw files written here, and the Shepp-Logan file from
Debian's ismrmrd-tools (an independent producer). The in-memory helpers (headers, acquisitions,
the test-only method) come from tests/gadgets/gadget_helpers.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import ismrmrd
import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "gadgets"))
import gadget_helpers as helpers  # noqa: E402 - also installs the test-only method

TEST_METHOD = helpers.TEST_METHOD
make_header, make_acq = helpers.make_header, helpers.make_acq


def write_raw(path, header, acqs, reference=None) -> Path:
    """An ISMRMRD raw file; ``reference`` (slices, frames, ny, nx) goes to /reference/images."""
    path = Path(path)
    with ismrmrd.Dataset(str(path), "dataset", mode="w") as dataset:
        dataset.write_xml_header(ismrmrd.xsd.ToXML(header).encode())
        for acq in acqs:
            dataset.append_acquisition(acq)
    if reference is not None:
        with h5py.File(path, "a") as f:
            f.create_dataset("reference/images", data=np.asarray(reference, np.complex64))
    return path


def disc_raw(path, frames=4, coils=4, n=32, reference=True, **header_kw) -> Path:
    """A fully sampled Cartesian disc cine (phases as frames) with its truth as the reference."""
    truth = helpers.disc_cine(frames, n, n)
    acqs = helpers.cartesian_cine(truth, helpers.smooth_maps(coils, n, n), np.ones((frames, n), bool))
    header = make_header(nx=n, ny=n, channels=coils, phases=frames, **header_kw)
    return write_raw(path, header, acqs, truth[None] if reference else None)


def generate_shepp_logan(path: Path) -> Path | None:
    """``ismrmrd_generate_cartesian_shepp_logan -c 8 -r 10 -a 2`` at a 64 matrix (fast): 20 interleaved
    repetitions of half the lines each, 2x readout oversampling, no phase counter. None without the tool."""
    tool = shutil.which("ismrmrd_generate_cartesian_shepp_logan")
    if tool is None:
        return None
    subprocess.run([tool, "-c", "8", "-r", "10", "-a", "2", "-m", "64", "-o", str(path)], check=True,
                   capture_output=True, timeout=120)
    return path
