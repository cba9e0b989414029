"""DICOM out (pipelines/files/dicom.py): replay to DICOM, read every file back with pydicom, check counts,
geometry against the raw file's own headers, trigger times, windows and pixels; dciodvfy (Debian's
dicom3tools, an independent validator) where installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest
from pipeline_helpers import helpers, make_header, write_raw

from pipelines.cli import main
from pipelines.commands.replay import replay_file
from pipelines.errors import UserError
from pipelines.files.dicom import TICK_MS, export_dicom
from pipelines.files.ismrmrd_io import read_images

pydicom = pytest.importorskip("pydicom")

SAMPLE = Path(__file__).parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SLICE_GAP_MM = 10.0
# ISMRMRD positions and directions are float32; DS strings hold 16 characters (>= 11 significant
# digits here): a voxel centre 300 mm from the image centre is then good to well below 1e-3 mm.
GEOMETRY_TOL_MM = 1e-3


def read_folder(folder: Path) -> dict[str, list]:
    """{series folder name: datasets ordered by InstanceNumber}."""
    out = {}
    for series in sorted(p for p in folder.iterdir() if p.is_dir()):
        datasets = [pydicom.dcmread(p) for p in sorted(series.glob("*.dcm"))]
        out[series.name] = sorted(datasets, key=lambda d: int(d.InstanceNumber))
    return out


def raw_geometry(raw_path: Path) -> dict[int, dict]:
    """Per slice, from the raw file itself: the first imaging readout's position and directions,
    with the reconSpace matrix and FOV of the XML header."""
    with h5py.File(raw_path, "r") as f:
        header = ismrmrd.xsd.CreateFromDocument(bytes(f["dataset/xml"][0]))
        heads = f["dataset/data"]["head"][()]
    recon = header.encoding[0].reconSpace
    noise = np.uint64(1 << (ismrmrd.ACQ_IS_NOISE_MEASUREMENT - 1))
    out = {}
    for head in heads:
        if int(head["flags"]) & int(noise):
            continue
        out.setdefault(int(head["idx"]["slice"]), {
            "position": head["position"].astype(np.float64), "read": head["read_dir"].astype(np.float64),
            "phase": head["phase_dir"].astype(np.float64), "slice": head["slice_dir"].astype(np.float64),
            "matrix": (int(recon.matrixSize.y), int(recon.matrixSize.x)),
            "fov": (float(recon.fieldOfView_mm.y), float(recon.fieldOfView_mm.x), float(recon.fieldOfView_mm.z))})
    return out


def voxel_centres_dicom(ds) -> np.ndarray:
    """(rows, cols, 3) patient coordinates of every voxel centre, from IPP/IOP/PixelSpacing (PS3.3 C.7.6.2.1.1)."""
    ipp = np.array(ds.ImagePositionPatient, np.float64)
    iop = np.array(ds.ImageOrientationPatient, np.float64)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    r, c = np.mgrid[:int(ds.Rows), :int(ds.Columns)]
    return ipp + c[..., None] * col_spacing * iop[:3] + r[..., None] * row_spacing * iop[3:]


def voxel_centres_raw(geo: dict) -> np.ndarray:
    """The same from the raw header: ISMRMRD position is the image centre, pixel i of n at (i - n//2) * FOV/n."""
    ny, nx = geo["matrix"]
    dy, dx = geo["fov"][0] / ny, geo["fov"][1] / nx
    r, c = np.mgrid[:ny, :nx]
    return (geo["position"] + (c - nx // 2)[..., None] * dx * geo["read"]
            + (r - ny // 2)[..., None] * dy * geo["phase"])


def dcm2niix_centres(folder: Path, work: Path) -> np.ndarray:
    """Every voxel centre (LPS, mm) of the NIfTI volume dcm2niix (Debian's, an independent DICOM reader)
    makes of ``folder``: its sform applied to every (i, j, k), RAS turned back to DICOM's LPS."""
    work.mkdir()
    subprocess.run(["dcm2niix", "-z", "n", "-f", "volume", "-o", str(work), str(folder)], check=True,
                   capture_output=True, timeout=120)
    data = (work / "volume.nii").read_bytes()
    dim = np.frombuffer(data, "<i2", 8, 40)
    srow = np.frombuffer(data, "<f4", 12, 280).reshape(3, 4).astype(np.float64)  # NIfTI-1 srow_x/y/z
    ijk = np.stack(np.meshgrid(*(np.arange(n) for n in dim[1:4]), indexing="ij"), -1).reshape(-1, 3)
    return (ijk @ srow[:, :3].T + srow[:, 3]) * np.array([-1.0, -1.0, 1.0])


def check_dcm2niix(folder: Path, raw_path: Path, work: Path) -> None:
    """dcm2niix's voxel centres are the raw header's, one to one (within its float32 affine's precision):
    a half-pixel shift, swapped spacings or a wrong slice position would move them by millimetres."""
    from scipy.spatial import cKDTree

    got = dcm2niix_centres(folder, work)
    want = np.concatenate([voxel_centres_raw(g).reshape(-1, 3) for g in raw_geometry(raw_path).values()])
    distance, nearest = cKDTree(want).query(got)
    assert len(got) == len(want) and len(set(nearest)) == len(want)
    assert distance.max() < 1e-2  # mm: float32 at a few hundred mm is good to ~1e-4


def check_geometry(datasets, raw_path: Path) -> None:
    """Every voxel centre of every image of a one-slice file at the raw header's patient coordinates."""
    geometry = raw_geometry(raw_path)
    assert list(geometry) == [0]
    geo = geometry[0]
    for ds in datasets:
        np.testing.assert_allclose(voxel_centres_dicom(ds), voxel_centres_raw(geo), atol=GEOMETRY_TOL_MM)
        iop = np.array(ds.ImageOrientationPatient, np.float64)
        np.testing.assert_allclose(np.cross(iop[:3], iop[3:]), geo["slice"], atol=1e-5)  # right-handed frame
        assert float(ds.SliceThickness) == pytest.approx(geo["fov"][2])
        assert (int(ds.Rows), int(ds.Columns)) == geo["matrix"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny sample replayed with zero-filled and a zero-filled preview, written to DICOM."""
    work = tmp_path_factory.mktemp("dicom")
    raw = work / "tiny.h5"
    shutil.copy(SAMPLE, raw)
    images, folder = raw.with_suffix(".images.h5"), work / "dicom"
    replay_file(raw, images, {"method": "zero-filled", "preview": "zero-filled"}, show_progress=False, dicom=folder)
    return raw, images, folder


def test_replay_writes_one_mr_image_per_frame_and_slice_per_series(tiny):
    raw, images, folder = tiny
    series = read_folder(folder)
    assert list(series) == ["series_001_image", "series_002_preview"]
    ismrmrd_series = {int(s.headers["image_series_index"][0]): s for s in read_images(images)}
    uids = set()
    for name, datasets in series.items():
        number = int(name.split("_")[1])
        assert len(datasets) == len(ismrmrd_series[number].headers) == 6
        assert [int(d.InstanceNumber) for d in datasets] == list(range(1, 7))
        for ds in datasets:
            assert ds.SOPClassUID == MR_IMAGE_STORAGE == ds.file_meta.MediaStorageSOPClassUID
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            assert ds.Modality == "MR" and int(ds.SeriesNumber) == number
            assert ds.PatientName == "Phantom^Cardiac" and ds.PatientID == "GADGETRON-INR-SIM"
            assert ds.PatientPosition == "HFS"
            uids.add(ds.SOPInstanceUID)
        assert len({d.SeriesInstanceUID for d in datasets}) == 1
    assert len(uids) == 12
    assert series["series_001_image"][0].SeriesInstanceUID != series["series_002_preview"][0].SeriesInstanceUID
    assert len({d.StudyInstanceUID for s in series.values() for d in s}) == 1
    assert len({d.FrameOfReferenceUID for s in series.values() for d in s}) == 1
    assert series["series_001_image"][0].SeriesDescription == "gadgetron-inr simulated cine_INR_zero-filled"
    assert series["series_002_preview"][0].SeriesDescription.endswith("_PREVIEW")


def test_pixels_windows_and_trigger_times_match_the_ismrmrd_images(tiny):
    raw, images, folder = tiny
    series = read_folder(folder)
    for s in read_images(images):
        number = int(s.headers["image_series_index"][0])
        datasets = series[f"series_{number:03d}_{'image' if number == 1 else 'preview'}"]
        order = np.lexsort((s.headers["phase"], s.headers["slice"]))
        for ds, i in zip(datasets, order, strict=True):
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            values = ds.pixel_array.astype(np.float64) * slope + intercept
            expected = s.data[i, 0, 0].astype(np.float64)
            # rounding to the nearest stored value: within half a slope (plus float32 rounding of the source)
            assert np.abs(values - expected).max() <= slope / 2 + 1e-6 * np.abs(expected).max()
            assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
            meta = ismrmrd.Meta.deserialize(s.attributes[i])
            assert float(ds.WindowCenter) == pytest.approx(float(meta["GADGETRON_WindowCenter"]), rel=1e-9)
            assert float(ds.WindowWidth) == pytest.approx(float(meta["GADGETRON_WindowWidth"]), rel=1e-9)
            assert float(ds.TriggerTime) == pytest.approx(TICK_MS * int(s.headers["physiology_time_stamp"][i][0]))
            assert ds.VOILUTFunction == "LINEAR_EXACT"  # a float scale's window, mapped exactly
        triggers = [float(d.TriggerTime) for d in datasets]
        assert triggers == sorted(triggers) and len(set(triggers)) == len(triggers)
        assert all(int(d.CardiacNumberOfImages) == 6 for d in datasets)


def test_geometry_maps_every_voxel_to_the_raw_headers_patient_coordinates(tiny):
    raw, images, folder = tiny
    datasets = [d for s in read_folder(folder).values() for d in s]
    check_geometry(datasets, raw)
    # the image centre (pixel ny//2, nx//2) is the ISMRMRD position itself
    geo = raw_geometry(raw)[0]
    centre = voxel_centres_dicom(datasets[0])[geo["matrix"][0] // 2, geo["matrix"][1] // 2]
    np.testing.assert_allclose(centre, geo["position"], atol=GEOMETRY_TOL_MM)


def test_non_square_images_put_row_spacing_first(tmp_path):
    """24 rows x 32 columns over a 300 mm square FOV: rows 12.5 mm apart, columns 9.375 mm; an
    off-centre disc makes a transposed or flipped image visible."""
    ny, nx, frames = 24, 32, 4
    truth = helpers.disc_cine(frames, ny, nx)
    acqs = helpers.cartesian_cine(truth, helpers.smooth_maps(4, ny, nx), np.ones((frames, ny), bool))
    raw = write_raw(tmp_path / "disc.h5", make_header(nx=nx, ny=ny, channels=4, phases=frames), acqs)
    images = raw.with_suffix(".images.h5")
    replay_file(raw, images, {"method": "zero-filled"}, show_progress=False, dicom=tmp_path / "dicom")
    datasets = read_folder(tmp_path / "dicom")["series_001_image"]
    assert [float(v) for v in datasets[0].PixelSpacing] == [12.5, 9.375]
    check_geometry(datasets, raw)
    expected = np.abs(read_images(images)[0].frames()[0])
    for t, ds in enumerate(datasets):
        got = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.abs(got - expected[t]).max() <= float(ds.RescaleSlope)
    # no subject or study information in this header: generated UIDs, empty type-2 attributes
    assert datasets[0].PatientName == "" and datasets[0].StudyInstanceUID.startswith("2.25.")
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(tmp_path / "dicom") == []
    if shutil.which("dcm2niix"):
        check_dcm2niix(tmp_path / "dicom" / "series_001_image", raw, tmp_path / "nifti")


def two_slice_raw(source: Path, path: Path) -> Path:
    """A two-slice stack made from a one-slice file as a user would merge two scans: the noise scan
    once, slice 0's readouts (no longer the last of the measurement), then the same readouts again
    as slice 1, SLICE_GAP_MM further along slice_dir."""
    with h5py.File(source, "r") as f:
        xml = bytes(f["dataset/xml"][0])
        data = f["dataset/data"][()]
    header = ismrmrd.xsd.CreateFromDocument(xml)
    header.encoding[0].encodingLimits.slice = ismrmrd.xsd.limitType(minimum=0, maximum=1, center=0)
    flags = data["head"]["flags"].astype(np.uint64)
    noise = (flags & np.uint64(1 << (ismrmrd.ACQ_IS_NOISE_MEASUREMENT - 1))) != 0
    first, second = data[~noise].copy(), data[~noise].copy()
    last = np.uint64(1 << (ismrmrd.ACQ_LAST_IN_MEASUREMENT - 1))
    first["head"]["flags"] = first["head"]["flags"].astype(np.uint64) & ~last
    second["head"]["idx"]["slice"] = 1
    second["head"]["position"] += (SLICE_GAP_MM * second["head"]["slice_dir"]).astype(np.float32)
    merged = np.concatenate([data[noise], first, second])
    merged["head"]["scan_counter"] = np.arange(1, len(merged) + 1)
    with h5py.File(path, "w") as f:
        f.create_dataset("dataset/xml", data=[ismrmrd.xsd.ToXML(header).encode()], dtype=h5py.string_dtype())
        f.create_dataset("dataset/data", data=merged, maxshape=(None,))
    return path


def simulate_has_slices() -> bool:
    import argparse

    from pipelines.commands import simulate

    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return any("--slices" in a.option_strings for a in parser._actions)


@pytest.mark.parametrize("how", ["merged", "simulate --slices"])
def test_stack_geometry_against_the_raw_header(tmp_path, how):
    if how == "merged":
        raw = two_slice_raw(SAMPLE, tmp_path / "stack.h5")
    else:
        if not simulate_has_slices():
            pytest.skip("`simulate --slices` is not an option yet (issue 20 adds it)")
        raw = tmp_path / "stack.h5"
        assert main(["simulate", "--slices", "2", "--matrix", "32", "--frames", "4", "--coils", "4",
                     "--pattern", "kt-uniform", "--acceleration", "2", "--seed", "1", "-o", str(raw)]) == 0
    images = raw.with_suffix(".images.h5")
    replay_file(raw, images, {"method": "zero-filled"}, show_progress=False, dicom=tmp_path / "dicom")
    datasets = read_folder(tmp_path / "dicom")["series_001_image"]
    geometry = raw_geometry(raw)
    assert sorted(geometry) == [0, 1]
    frames = len(datasets) // 2
    # InstanceNumber runs slice-major: all frames of slice 0, then slice 1
    locations = [float(d.SliceLocation) for d in datasets]
    assert len(set(locations[:frames])) == 1 and len(set(locations[frames:])) == 1
    gap = np.dot(geometry[1]["position"] - geometry[0]["position"], geometry[0]["slice"])
    assert locations[frames] - locations[0] == pytest.approx(gap, abs=GEOMETRY_TOL_MM)
    if how == "merged":
        assert gap == pytest.approx(SLICE_GAP_MM, abs=1e-4)
    for slice_index, part in enumerate((datasets[:frames], datasets[frames:])):
        for ds in part:
            np.testing.assert_allclose(voxel_centres_dicom(ds), voxel_centres_raw(geometry[slice_index]),
                                       atol=GEOMETRY_TOL_MM)
        triggers = [float(d.TriggerTime) for d in part]
        assert triggers == sorted(triggers)
        assert all(int(d.CardiacNumberOfImages) == frames for d in part)
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(tmp_path / "dicom") == []
    if shutil.which("dcm2niix"):
        check_dcm2niix(tmp_path / "dicom" / "series_001_image", raw, tmp_path / "nifti")


@pytest.mark.parametrize("output", ["ushort", "complex"])
def test_ushort_images_as_they_are_and_complex_as_magnitude(tmp_path, output):
    raw = tmp_path / "tiny.h5"
    shutil.copy(SAMPLE, raw)
    images = tmp_path / "images.h5"
    replay_file(raw, images, {"method": "zero-filled", "output": output}, show_progress=False,
                dicom=tmp_path / "dicom")
    s = read_images(images)[0]
    datasets = read_folder(tmp_path / "dicom")["series_001_image"]
    order = np.lexsort((s.headers["phase"], s.headers["slice"]))
    for ds, i in zip(datasets, order, strict=True):
        expected = s.data[i, 0, 0]
        if output == "ushort":
            assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, 0.0)
            np.testing.assert_array_equal(ds.pixel_array, expected)  # bit for bit
            meta = ismrmrd.Meta.deserialize(s.attributes[i])
            assert float(ds.WindowWidth) == pytest.approx(float(meta["WindowWidth"]), rel=1e-9)
            assert "VOILUTFunction" not in ds  # integer pixels: DICOM's default LINEAR window
        else:
            values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            assert np.abs(values - np.abs(expected)).max() <= float(ds.RescaleSlope) / 2 + 1e-6 * np.abs(expected).max()


def test_patient_study_and_uids_from_the_raw_header(tiny, tmp_path):
    raw, images, _ = tiny
    copy = tmp_path / "images.h5"
    shutil.copy(images, copy)
    with h5py.File(copy, "a") as f:
        header = ismrmrd.xsd.CreateFromDocument(bytes(f["dataset/xml"][0]))
        x = ismrmrd.xsd
        header.subjectInformation.patientBirthdate = "1970-01-02"
        header.subjectInformation.patientGender = "F"
        header.studyInformation = x.studyInformationType(
            studyDate="2026-12-01", studyTime="09:30:15", studyID="42", accessionNumber="7",
            studyInstanceUID="1.2.3.4.5", studyDescription="cardiac cine")
        header.measurementInformation.seriesInstanceUIDRoot = "1.2.3.4.6"
        header.measurementInformation.frameOfReferenceUID = "1.2.3.4.7"
        del f["dataset/xml"]
        f.create_dataset("dataset/xml", data=[ismrmrd.xsd.ToXML(header).encode()], dtype=h5py.string_dtype())
    export_dicom(copy, tmp_path / "dicom")
    series = read_folder(tmp_path / "dicom")
    ds = series["series_001_image"][0]
    assert (ds.StudyInstanceUID, ds.FrameOfReferenceUID) == ("1.2.3.4.5", "1.2.3.4.7")
    assert ds.SeriesInstanceUID == "1.2.3.4.6.1" and series["series_002_preview"][0].SeriesInstanceUID == "1.2.3.4.6.2"
    assert (ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber) == ("20261201", "093015", "42", "7")
    assert (ds.PatientBirthDate, ds.PatientSex, ds.StudyDescription) == ("19700102", "F", "cardiac cine")
    assert ds.AcquisitionDate == "20261201"


def test_uids_are_deterministic_per_image_file(tiny, tmp_path):
    """The same file exports to identical files; other pixels (another reconstruction) get new series
    and image UIDs in the same study."""
    _, images, folder = tiny
    export_dicom(images, tmp_path / "again")
    for a, b in zip(sorted(folder.rglob("*.dcm")), sorted((tmp_path / "again").rglob("*.dcm")), strict=True):
        assert a.read_bytes() == b.read_bytes()
    other = tmp_path / "other.h5"
    shutil.copy(images, other)
    with h5py.File(other, "a") as f:
        f["dataset/image_1/data"][...] = f["dataset/image_1/data"][()] * 2
    export_dicom(other, tmp_path / "other")
    a, b = read_folder(folder)["series_001_image"][0], read_folder(tmp_path / "other")["series_001_image"][0]
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.FrameOfReferenceUID == b.FrameOfReferenceUID
    assert a.SeriesInstanceUID != b.SeriesInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID
    p, q = read_folder(folder)["series_002_preview"][0], read_folder(tmp_path / "other")["series_002_preview"][0]
    assert p.SeriesInstanceUID == q.SeriesInstanceUID  # the preview's pixels did not change


def test_fallback_images_are_a_series_of_their_own(tmp_path):
    """A method past its time budget: the fallback (cg-sense) makes the images, written as series 101."""
    raw = tmp_path / "tiny.h5"
    shutil.copy(SAMPLE, raw)
    replay_file(raw, tmp_path / "images.h5", {"method": "l-plus-s", "time_budget_s": "1e-9", "preview": "zero-filled"},
                show_progress=False, dicom=tmp_path / "dicom")
    series = read_folder(tmp_path / "dicom")
    assert list(series) == ["series_002_preview", "series_101_fallback"]
    ds = series["series_101_fallback"][0]
    assert ds.SeriesDescription.endswith("_FALLBACK") and "fallback" in ds.ImageComments
    assert len(series["series_101_fallback"]) == 6


def dciodvfy_errors(folder: Path) -> list[str]:
    """dciodvfy's error lines for every file under ``folder`` (each file must be checked as an MR image)."""
    errors = []
    for path in sorted(folder.rglob("*.dcm")):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        lines = (result.stdout + result.stderr).splitlines()
        if "MRImage" not in lines:
            errors.append(f"{path.name}: not checked as an MR image: {lines[:3]}")
        errors += [f"{path.name}: {line}" for line in lines if line.startswith("Error")]
    return errors


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_dciodvfy_finds_no_errors(tiny):
    """Every file against the MR Image IOD. Its warnings are expected and listed in docs/dicom.md
    (RescaleSlope/Intercept are outside the MR IOD; type-2 study attributes the header lacks)."""
    _, _, folder = tiny
    assert len(list(folder.rglob("*.dcm"))) == 12
    assert dciodvfy_errors(folder) == []


def test_another_producers_file_without_orientation_or_ecg(shepp_logan, tmp_path, caplog):
    """ismrmrd-tools' Shepp-Logan (an independent producer): zero read/phase directions and no trigger
    stamps. Written axially with a warning, no TriggerTime (type 2C: only for gated scans)."""
    images = tmp_path / "images.h5"
    replay_file(shepp_logan, images, {"method": "zero-filled"}, show_progress=False, dicom=tmp_path / "dicom")
    assert "written as axial" in caplog.text
    datasets = read_folder(tmp_path / "dicom")["series_001_image"]
    assert len(datasets) == len(read_images(images)[0].headers)
    for ds in datasets:
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert "TriggerTime" not in ds and ds.ScanOptions == ""
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(tmp_path / "dicom") == []


def test_export_refuses_a_folder_in_use_and_bad_input(tiny, tmp_path, capsys):
    _, images, folder = tiny
    with pytest.raises(UserError, match="not empty"):
        export_dicom(images, folder)
    assert main(["export-dicom", str(images), str(folder)]) == 2
    assert main(["export-dicom", str(tmp_path / "missing.h5"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # replay checks the folder before any reconstruction: no image file appears
    target = tmp_path / "images.h5"
    assert main(["replay", str(SAMPLE), "--method", "zero-filled", "--no-progress", "-o", str(target),
                 "--dicom", str(folder)]) == 2
    assert not target.exists()


def test_image_file_without_a_header_takes_the_raw_files(tiny, tmp_path, caplog):
    """gadgetron_ismrmrd_client writes images without the XML header: without --raw, a warning and empty
    patient attributes; with it, the raw header's."""
    raw, images, folder = tiny
    bare = tmp_path / "bare.h5"
    shutil.copy(images, bare)
    with h5py.File(bare, "a") as f:
        del f["dataset/xml"]
    assert main(["export-dicom", str(bare), str(tmp_path / "plain")]) == 0
    assert "has no ISMRMRD header" in caplog.text
    assert read_folder(tmp_path / "plain")["series_001_image"][0].PatientName == ""
    assert main(["export-dicom", str(bare), str(tmp_path / "dicom"), "--raw", str(raw)]) == 0
    for a, b in zip(sorted(folder.rglob("*.dcm")), sorted((tmp_path / "dicom").rglob("*.dcm")), strict=True):
        assert a.read_bytes() == b.read_bytes()  # the same files as from the image file with its header


def test_export_dicom_command(tiny, tmp_path, capsys):
    _, images, _ = tiny
    assert main(["export-dicom", str(images), str(tmp_path / "out")]) == 0
    assert "wrote 12 DICOM images in 2 series" in capsys.readouterr().err
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 12
