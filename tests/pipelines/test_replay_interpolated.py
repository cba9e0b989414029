"""``replay --method da-inr`` through the radial chain, asking for a finer matrix and more frames:
the written images have the interpolated matrix over the same FOV and the frames' timing in between."""

import h5py
import ismrmrd
import numpy as np
import pytest

from pipelines.cli import main
from pipelines.commands.simulate import simulate_file
from pipelines.files.ismrmrd_io import read_images

N, T = 24, 4


@pytest.mark.timeout(180)
def test_da_inr_replay_writes_the_interpolated_matrix_and_frames(tmp_path):
    raw = simulate_file(tmp_path / "radial.h5", trajectory="radial", spokes=8, frames=T, matrix=N, coils=2, seed=3)
    out = tmp_path / "out.h5"
    assert main(["replay", str(raw), "-o", str(out), "--method", "da-inr", "--preset", "fast", "--device", "cpu",
                 "--no-progress", "--set", "steps=20", "--set", "out_scale=1.5", "--set", f"out_frames={2 * T}",
                 "--set", "fallback=none"]) == 0
    (series,) = read_images(out)
    frames = series.frames()
    assert frames.shape[-3:] == (2 * T, 36, 36) and np.isfinite(frames).all()
    heads = series.headers
    with h5py.File(raw, "r") as f:
        header = ismrmrd.xsd.CreateFromDocument(f["dataset/xml"][0])
    fov = header.encoding[0].reconSpace.fieldOfView_mm
    assert [tuple(h["matrix_size"]) for h in heads] == [(36, 36, 1)] * 2 * T
    np.testing.assert_allclose(heads[0]["field_of_view"][:2], (fov.x, fov.y), rtol=1e-6)
    stamps = np.array([h["acquisition_time_stamp"] for h in heads], dtype=float)
    assert sorted(heads["phase"]) == list(range(2 * T))
    order = np.argsort(heads["phase"])
    assert np.all(np.diff(stamps[order]) > 0)  # in-between frames get in-between times
