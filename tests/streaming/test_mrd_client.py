"""``serve`` as an MRD / FIRE server, driven by python-ismrmrd-server's own reference client
(``tests/streaming/mrd_client``, vendored unchanged) as a program (issue 22 items 1 and 4).

The client sends the configuration by name, the header, then the JSON it finds in ``<config>.json``
in its working folder as a TEXT message (the "configAdditional"), the acquisitions and CLOSE; it
writes what comes back to an HDF5 file and logs every TEXT it receives."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest

from pipelines.cli import main
from pipelines.streaming.server import Server

ROOT = Path(__file__).parents[2]
TINY = ROOT / "sample_data" / "cine_tiny_ktuniform_R4.h5"
CLIENT = Path(__file__).parent / "mrd_client" / "client.py"
MRD2DICOM = Path(__file__).parent / "mrd_client" / "mrd2dicom.py"
FIRE_META = ("DataRole", "ImageProcessingHistory", "SequenceDescriptionAdditional", "SeriesDescriptionAdditional",
             "WindowCenter", "WindowWidth", "Keep_image_geometry")


@pytest.fixture(scope="module")
def server():
    srv = Server("127.0.0.1", 0, timeout_s=30, max_clients=2).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """``gadgetron-inr replay --method zero-filled`` of the same file."""
    out = tmp_path_factory.mktemp("replay") / "zero_filled.h5"
    assert main(["replay", str(TINY), "--method", "zero-filled", "--no-progress", "-o", str(out)]) == 0
    return images_in(out, "dataset")


def images_in(path: Path, group: str) -> list:
    with ismrmrd.Dataset(str(path), group, create_if_needed=False) as dset:
        series = sorted(name for name in dset.list() if name.startswith("image_"))
        return [dset.read_image(name, i) for name in series for i in range(dset.number_of_images(name))]


def run_client(server, folder: Path, parameters: dict | None, config: str | None = "cartesian",
               json_name: str | None = None):
    """The reference client, its JSON in ``folder``; returns (completed process, output file)."""
    folder.mkdir(parents=True, exist_ok=True)
    if parameters is not None:
        (folder / f"{json_name or config}.json").write_text(json.dumps({"version": "1.1.0", "parameters": parameters}))
    out = folder / "out.h5"
    raw = shutil.copy(TINY, folder / "raw.h5")  # the client opens its input read-write (h5py locks it)
    command = [sys.executable, str(CLIENT), str(raw), "-g", "dataset", "-a", "127.0.0.1", "-p", str(server.port),
               "-o", str(out), "-G", "out"]
    if config is not None:
        command += ["-c", config]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120)
    return done, out


def assert_equal_images(got: list, expected: list) -> None:
    assert len(got) == len(expected) == 6
    for a, b in zip(got, expected, strict=True):
        assert (a.image_index, a.slice, a.phase, a.image_series_index) == \
               (b.image_index, b.slice, b.phase, b.image_series_index)
        assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)  # same chain, same numbers


@pytest.mark.timeout(180)
def test_json_parameters_choose_the_method_and_images_equal_replay(server, replayed, tmp_path):
    done, out = run_client(server, tmp_path / "zf", {"method": "zero-filled"})
    assert done.returncode == 0, done.stderr
    got = images_in(out, "out")
    assert_equal_images(got, replayed)
    meta = ismrmrd.Meta.deserialize(got[0].attribute_string)
    for key in FIRE_META:  # what FIRE clients and mrd2dicom read
        assert key in meta, key
    assert meta["DataRole"] == "Image" and meta["Keep_image_geometry"] == "1"
    assert meta["SeriesDescriptionAdditional"] == "_INR_zero-filled"
    assert float(meta["WindowWidth"]) > 0
    # the reference mrd2dicom turns them into DICOM as a FIRE site's export would
    done = subprocess.run([sys.executable, str(MRD2DICOM), str(out), "-g", "out", "-o", str(tmp_path / "dicom")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Wrote 6 DICOM files" in done.stdout, done.stdout + done.stderr
    import pydicom

    files = sorted((tmp_path / "dicom").glob("*.dcm"))
    assert len(files) == 6
    for path, image in zip(files, got, strict=True):  # named by instance number: the same order
        ds = pydicom.dcmread(path)
        image_meta = ismrmrd.Meta.deserialize(image.attribute_string)
        assert ds.SeriesDescription.endswith("_INR_zero-filled") and ds.InstanceNumber == image.image_index
        assert float(ds.WindowCenter) == float(image_meta["WindowCenter"])
        assert float(ds.WindowWidth) == float(image_meta["WindowWidth"])
        assert ds.PixelData == image.data.tobytes()


@pytest.mark.timeout(180)
def test_json_config_chooses_the_chain_as_the_reference_server_does(server, replayed, tmp_path):
    """Without ``-c`` the client sends its default name ``invertcontrast``; ``config`` in the JSON
    replaces it (and ``customconfig``, when not empty, replaces that)."""
    done, out = run_client(server, tmp_path / "cfg", {"config": "cartesian", "method": "zero-filled"},
                           config=None, json_name="invertcontrast")
    assert done.returncode == 0, done.stderr
    assert_equal_images(images_in(out, "out"), replayed)
    done, out = run_client(server, tmp_path / "custom", {"config": "no-such-chain", "customconfig": "cartesian",
                                                          "method": "zero-filled"}, config=None,
                           json_name="invertcontrast")
    assert done.returncode == 0, done.stderr
    assert_equal_images(images_in(out, "out"), replayed)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("parameters", "words"), [
    ({"methd": "x"}, "methd"),  # an unknown key, named, as --set methd=x is refused
    ({"method": "zero-filled", "output": "jpeg"}, "output"),  # a bad value of a known key
])
def test_a_bad_parameter_is_an_error_text_then_a_clean_close_and_the_next_scan_is_served(
        server, replayed, tmp_path, caplog, parameters, words):
    with caplog.at_level(logging.INFO, logger="pipelines.streaming.server"):
        done, out = run_client(server, tmp_path / "bad", parameters)
    assert done.returncode == 0, done.stderr
    log = done.stderr
    text_at = log.index("<-- Received MRD_MESSAGE_TEXT (5)")
    close_at = log.index("<-- Received MRD_MESSAGE_CLOSE (4)")
    assert text_at < close_at  # the error, then the server's CLOSE: a clean end, not a reset
    error_line = log[text_at:close_at].splitlines()[1]
    assert "configAdditional parameters" in error_line and words in error_line
    with h5py.File(out) as f:
        assert not [k for k in f["out"] if k.startswith("image")]  # no images
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and words in errors[0].getMessage() and not errors[0].exc_info
    done, out = run_client(server, tmp_path / "next", {"method": "zero-filled"})  # the server serves the next scan
    assert done.returncode == 0, done.stderr
    assert_equal_images(images_in(out, "out"), replayed)


@pytest.mark.timeout(60)
def test_json_that_is_not_an_object_of_parameters_is_refused(server, tmp_path):
    folder = tmp_path / "notjson"
    folder.mkdir()
    (folder / "cartesian.json").write_text('{"parameters": ["method", "zero-filled"]}')
    done, out = run_client(server, folder, None)
    assert done.returncode == 0, done.stderr
    assert 'configAdditional "parameters" must be a JSON object' in done.stderr


@pytest.mark.timeout(60)
def test_json_parameters_before_the_header_work_too(server, replayed):
    """The reference client sends its JSON after the header; other FIRE clients send it before."""
    from pipelines.files.ismrmrd_io import open_raw
    from pipelines.streaming import protocol
    from pipelines.streaming.emulator import stream

    opening = protocol.config_file("cartesian") + protocol.text(json.dumps({"parameters": {"method": "zero-filled"}}))
    session = stream(open_raw(TINY), opening, port=server.port, timeout_s=30)  # then the header, the data
    assert session.errors == [] and session.closed
    assert_equal_images(session.images, replayed)
