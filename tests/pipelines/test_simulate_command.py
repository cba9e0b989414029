"""``gadgetron-inr simulate``: the raw file it writes, read back with ismrmrd, h5py and Debian's tools."""

import shutil
import subprocess
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest

from inr_core.sampling import calibration_lines, lattice_mask, make_mask
from inr_core.simulate import Realism, simulate_cine
from pipelines.cli import main
from pipelines.commands.simulate import simulate_file
from pipelines.errors import UserError
from pipelines.files import raw_writer

XSD = "/usr/share/ismrmrd/schema/ismrmrd.xsd"
CART = dict(matrix=32, frames=20, coils=2, seed=1, pattern="kt-uniform", acceleration=2)
REAL = dict(matrix=32, frames=4, coils=4, seed=1, pattern="kt-uniform", acceleration=4)


def _cli(path, **opts):
    argv = ["simulate", "-o", str(path)]
    for key, value in opts.items():
        argv += [f"--{key.replace('_', '-')}"] + ([str(value)] if value != "" else [])  # "": a bare switch
    return main(argv)


class _Row:
    """One readout read back with h5py (bulk reads; ``ismrmrd.Dataset.read_acquisition`` takes ~4 ms each)."""

    def __init__(self, row):
        head = row["head"]
        self.flags = int(head["flags"])
        self.phase = int(head["idx"]["phase"])
        self.line = int(head["idx"]["kspace_encode_step_1"])
        self.center_sample = int(head["center_sample"])
        self.time = int(head["acquisition_time_stamp"])
        self.trigger = int(head["physiology_time_stamp"][0])
        self.dims = int(head["trajectory_dimensions"])
        samples, channels = int(head["number_of_samples"]), int(head["active_channels"])
        self.data = row["data"].view(np.complex64).reshape(channels, samples)
        self.traj = row["traj"].reshape(samples, self.dims)

    def flag(self, bit):
        return bool(self.flags & (1 << (bit - 1)))


def _read(path):
    with h5py.File(path, "r") as f:
        xml = f["dataset/xml"][0]
        rows = f["dataset/data"][()]
    return xml, [_Row(r) for r in rows]


@pytest.fixture(scope="module")
def cartesian_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "cart.h5"
    assert _cli(path, **CART) == 0
    return path


@pytest.fixture(scope="module")
def radial_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "radial.h5"
    assert _cli(path, trajectory="radial", matrix=32, frames=4, coils=2, spokes=5, seed=2) == 0
    return path


@pytest.fixture(scope="module")
def realistic_file(tmp_path_factory):
    return simulate_file(tmp_path_factory.mktemp("sim") / "real.h5", realistic=True, **REAL)


def test_prints_the_written_path(tmp_path, capsys):
    path = tmp_path / "x.h5"
    assert _cli(path, matrix=16, frames=2, coils=1, acceleration=2) == 0
    assert capsys.readouterr().out.strip() == str(path)


def test_header_validates_against_the_xsd(cartesian_file, radial_file):
    etree = pytest.importorskip("lxml.etree")
    if not shutil.os.path.exists(XSD):
        pytest.skip("ISMRMRD XSD not installed")
    schema = etree.XMLSchema(etree.parse(XSD))
    for path in (cartesian_file, radial_file):
        xml, _ = _read(path)
        assert schema.validate(etree.fromstring(xml)), schema.error_log
        header = ismrmrd.xsd.CreateFromDocument(xml)
        enc = header.encoding[0]
        assert enc.reconSpace.matrixSize.x == 32 and enc.encodedSpace.matrixSize.x == 64
        assert header.acquisitionSystemInformation.receiverChannels == 2


def test_cartesian_readouts_match_the_simulation(cartesian_file):
    xml, acqs = _read(cartesian_file)
    header = ismrmrd.xsd.CreateFromDocument(xml)
    limits = header.encoding[0].encodingLimits
    assert (limits.kspace_encoding_step_1.maximum, limits.kspace_encoding_step_1.center) == (31, 16)
    assert limits.phase.maximum == 19
    noise = [a for a in acqs if a.flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)]
    imaging = acqs[len(noise):]
    assert len(noise) == 32 and all(a.flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) for a in acqs[:32])

    sim = simulate_cine(32, 20, 2, 30.0, 1)
    mask = make_mask("kt-uniform", 32, 20, 2, seed=1)
    acs = set(calibration_lines("kt-uniform", 32).tolist())
    seen = np.zeros_like(mask)
    for a in imaging:
        t, y = a.phase, a.line
        seen[t, y] = True
        assert a.center_sample == 32 and a.data.shape == (2, 64)
        np.testing.assert_allclose(a.data, sim.kspace[t, :, y].numpy(), rtol=1e-5, atol=1e-6)
        assert a.flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING) == (y in acs)
    assert np.array_equal(seen, mask) and len(imaging) == mask.sum()
    assert imaging[0].flag(ismrmrd.ACQ_FIRST_IN_SLICE)
    assert imaging[-1].flag(ismrmrd.ACQ_LAST_IN_SLICE) and imaging[-1].flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
    assert sum(a.flag(ismrmrd.ACQ_LAST_IN_SLICE) for a in acqs) == 1


def test_cartesian_acquisition_order_is_segmented(cartesian_file):
    _, acqs = _read(cartesian_file)
    imaging = [a for a in acqs if not a.flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)]
    phases = [a.phase for a in imaging]
    assert phases != sorted(phases)  # several heartbeats, each visiting every frame
    stamps = [a.time for a in acqs]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    triggers = np.array([a.trigger for a in imaging])
    assert triggers.max() * 2.5 < 1000  # within one RR interval at 60 bpm
    by_frame = {}
    for a in imaging:
        by_frame.setdefault(a.phase, []).append(a.trigger)
    firsts = [min(by_frame[t]) for t in range(20)]
    assert firsts == sorted(firsts)  # later cardiac phases are later after the R wave


def test_ismrmrd_python_reads_it_read_only(cartesian_file):
    dset = ismrmrd.Dataset(str(cartesian_file), "dataset", mode="r")
    try:
        first, last = dset.read_acquisition(0), dset.read_acquisition(dset.number_of_acquisitions() - 1)
    finally:
        dset.close()
    assert first.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) and first.data.shape == (2, 64)
    assert last.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT)


def test_reference_group(cartesian_file):
    with h5py.File(cartesian_file, "r") as f:
        ref = f["reference"]
        assert ref["images"].shape == (1, 20, 32, 32) and ref["images"].dtype == np.complex64
        assert ref["coil_maps"].shape == (1, 2, 32, 32)
        assert ref.attrs["pattern"] == "kt-uniform" and ref.attrs["seed"] == 1
        assert ref.attrs["acceleration"] == 2.0 and ref.attrs["snr"] == 30.0
        images = ref["images"][0]
    np.testing.assert_allclose(images, simulate_cine(32, 20, 2, 30.0, 1).images.numpy())


def test_radial_file(radial_file):
    xml, acqs = _read(radial_file)
    header = ismrmrd.xsd.CreateFromDocument(xml)
    assert str(header.encoding[0].trajectory.value) == "radial"
    imaging = [a for a in acqs if not a.flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)]
    assert len(imaging) == 4 * 5
    sim = simulate_cine(32, 4, 2, 30.0, 2, trajectory="radial", spokes=5)
    for a in imaging:
        assert a.dims == 2 and a.traj.shape == (64, 2)
        np.testing.assert_allclose(a.traj, sim.trajectory_k[a.phase, a.line].numpy())
        np.testing.assert_allclose(a.data, sim.kspace[a.phase, :, a.line].numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert max(float(np.abs(a.traj).max()) for a in imaging) == 16.0  # cycles per FOV of the 32x32 image


@pytest.mark.skipif(shutil.which("ismrmrd_recon_cartesian_2d") is None, reason="Debian ismrmrd-tools not installed")
def test_debian_ismrmrd_tools_read_the_file(cartesian_file, tmp_path):
    copy = tmp_path / "copy.h5"  # the Debian recon writes its images into the file it reads
    shutil.copy(cartesian_file, copy)
    timing = subprocess.run(["ismrmrd_read_timing_test", str(copy)], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert timing.returncode == 0, timing.stderr
    recon = subprocess.run(["ismrmrd_recon_cartesian_2d", str(copy)], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path)
    assert recon.returncode == 0, recon.stderr
    count = 32 + int(make_mask("kt-uniform", 32, 20, 2, seed=1).sum())
    assert f"Number of acquisitions      : {count}" in recon.stdout


@pytest.mark.skipif(shutil.which("ismrmrd_test_xml") is None, reason="Debian ismrmrd-tools not installed")
def test_debian_xml_parser_reads_the_header(cartesian_file, radial_file, realistic_file, tmp_path):
    # Debian's ismrmrd_info only prints the library version, so the C++ header parser stands in for it.
    for raw in (cartesian_file, radial_file, realistic_file):
        xml = tmp_path / "header.xml"
        with h5py.File(raw, "r") as f:
            xml.write_bytes(f["dataset/xml"][0])
        parsed = subprocess.run(["ismrmrd_test_xml", str(xml)], capture_output=True, text=True, timeout=60,
                                cwd=tmp_path)
        assert parsed.returncode == 0, parsed.stderr


@pytest.mark.parametrize("opts", [
    dict(matrix=15),
    dict(snr=0),
    dict(frames=0),
    dict(acceleration=99),
    dict(pattern="kt-uniform", acceleration=2.5),
    dict(trajectory="radial", pattern="kt-gaussian"),
    dict(trajectory="radial", spokes=0),
])
def test_bad_options_exit_2_without_output(tmp_path, capsys, opts):
    path = tmp_path / "bad.h5"
    assert _cli(path, **opts) == 2
    assert not path.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("gadgetron-inr: error: --")


def test_unknown_pattern_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        _cli(tmp_path / "bad.h5", pattern="poisson")
    assert exc.value.code == 2
    assert not (tmp_path / "bad.h5").exists()


def test_existing_output_is_kept_without_force(tmp_path):
    path = tmp_path / "keep.h5"
    path.write_bytes(b"precious")
    assert _cli(path, matrix=16, frames=2, coils=1, acceleration=2) == 2
    assert path.read_bytes() == b"precious"


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(raw_writer, "_write_reference", boom)
    with pytest.raises(RuntimeError):
        _cli(tmp_path / "partial.h5", matrix=16, frames=2, coils=1, acceleration=2)
    assert list(tmp_path.iterdir()) == []


def test_tiny_sample_file_is_what_its_readme_command_writes(tmp_path):
    sample = Path(__file__).resolve().parents[2] / "sample_data" / "cine_tiny_ktuniform_R4.h5"
    if not sample.exists():
        pytest.skip("sample_data not present")
    fresh = tmp_path / "tiny.h5"
    assert _cli(fresh, matrix=48, frames=6, coils=4, pattern="kt-uniform", acceleration=4, seed=1) == 0
    (xml_a, rows_a), (xml_b, rows_b) = _read(sample), _read(fresh)
    assert xml_a == xml_b and len(rows_a) == len(rows_b)
    for a, b in zip(rows_a, rows_b, strict=True):
        assert (a.flags, a.phase, a.line, a.time) == (b.flags, b.phase, b.line, b.time)
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-5)
    with h5py.File(sample, "r") as f, h5py.File(fresh, "r") as g:
        np.testing.assert_allclose(f["reference/images"][()], g["reference/images"][()], atol=1e-5)


# --- realistic mode -----------------------------------------------------------------------------------

def _imaging(acqs):
    return [a for a in acqs if not a.flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)]


def _limits(xml):
    return ismrmrd.xsd.CreateFromDocument(xml).encoding[0].encodingLimits


def test_simulate_file_writes_what_the_command_writes(tmp_path):
    via_cli, via_api = tmp_path / "cli.h5", tmp_path / "api.h5"
    assert _cli(via_cli, realistic="", partial_fourier=0.75, **REAL) == 0
    simulate_file(via_api, realistic=True, partial_fourier=0.75, **REAL)
    (xml_a, rows_a), (xml_b, rows_b) = _read(via_cli), _read(via_api)
    assert xml_a == xml_b and len(rows_a) == len(rows_b)
    for a, b in zip(rows_a, rows_b, strict=True):
        assert (a.flags, a.phase, a.line, a.time) == (b.flags, b.phase, b.line, b.time)
        assert np.array_equal(a.data, b.data)


def test_realistic_acs_lines_are_flagged_the_siemens_way(realistic_file):
    _, acqs = _read(realistic_file)
    lattice = lattice_mask("kt-uniform", 32, 4, 4)
    acs = set(calibration_lines("kt-uniform", 32).tolist())
    seen = {t: set() for t in range(4)}
    with h5py.File(realistic_file, "r") as f:
        calibration_only = f["reference/calibration_only"][0]
        assert f["reference"].attrs["acs_flags"] == "siemens"
    for a in _imaging(acqs):
        both = a.flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING)
        only = a.flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION)
        assert not (both and only)
        if a.line in acs:
            seen[a.phase].add(a.line)
            assert both == bool(lattice[a.phase, a.line]) and only == (not lattice[a.phase, a.line])
        else:
            assert not (both or only)
        assert calibration_only[a.phase, a.line] == only
    assert all(lines == acs for lines in seen.values())  # every ACS line in every frame
    assert calibration_only.sum() == 4 * (16 - 16 // 4)  # R=4: a quarter of the block is on each lattice


def test_realistic_snr_db_measured_back_from_the_file(realistic_file):
    xml, acqs = _read(realistic_file)
    header = ismrmrd.xsd.CreateFromDocument(xml)
    centre_line = header.encoding[0].encodingLimits.kspace_encoding_step_1.center
    noise = np.concatenate([a.data for a in acqs if a.flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)], axis=1)
    sigma = np.sqrt((np.abs(noise) ** 2).mean(axis=1))
    centre = np.array([a.data[:, a.center_sample] for a in _imaging(acqs) if a.line == centre_line])  # (T, C)
    assert centre.shape == (4, 4)
    measured = 20 * np.log10((np.abs(centre).mean(axis=0) / sigma).max())
    assert abs(measured - 50.0) < 0.3
    doubles = {p.name: p.value for p in header.userParameters.userParameterDouble}
    assert doubles["snr_db"] == 50.0
    with h5py.File(realistic_file, "r") as f:
        attrs = f["reference"].attrs
        assert attrs["snr_db"] == 50.0
        assert "max over coils" in attrs["snr_db_definition"]
        assert 1.0 <= attrs["g_factor_r4_mean"] <= attrs["g_factor_r4_max"]


def test_realistic_headers_validate_against_the_xsd(realistic_file, tmp_path):
    radial = simulate_file(tmp_path / "radial.h5", trajectory="radial", matrix=32, frames=2, coils=2, spokes=5,
                           realistic=True)
    single = simulate_file(tmp_path / "one.h5", realistic=True, partial_fourier=0.6, **{**REAL, "frames": 1})
    for path in (realistic_file, radial, single):
        xml, _ = _read(path)
        errors = raw_writer.header_errors(xml)
        if errors is None:
            pytest.skip("lxml or the ISMRMRD XSD not installed")
        assert errors == [], errors


def test_partial_fourier_lines_are_numbered_from_the_first_acquired_row(tmp_path):
    path = simulate_file(tmp_path / "pf.h5", realistic=True, partial_fourier=0.75, **REAL)
    xml, acqs = _read(path)
    header = ismrmrd.xsd.CreateFromDocument(xml)
    lim = header.encoding[0].encodingLimits.kspace_encoding_step_1
    first = 32 - round(0.75 * 32)
    assert (lim.minimum, lim.maximum, lim.center) == (0, 32 - first - 1, 32 // 2 - first) == (0, 23, 8)
    assert header.encoding[0].encodedSpace.matrixSize.y == 32
    assert lim.center != (lim.minimum + lim.maximum) // 2  # asymmetric, as scanners write it

    sim = simulate_cine(32, 4, 4, seed=1, realism=Realism(partial_fourier=0.75))
    mask = make_mask("kt-uniform", 32, 4, 4, seed=1)
    mask[:, :first] = False
    seen = np.zeros_like(mask)
    for a in _imaging(acqs):
        row = a.line - lim.center + 32 // 2  # where a reader puts line l
        assert 0 <= a.line <= lim.maximum and row >= first
        seen[a.phase, row] = True
        np.testing.assert_array_equal(a.data, sim.kspace[a.phase, :, row].numpy())
    assert np.array_equal(seen, mask)
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["reference/mask"][0], mask)
        assert f["reference"].attrs["first_line"] == first and f["reference"].attrs["partial_fourier"] == 0.75


def test_single_frame_has_no_cardiac_phase_dimension(tmp_path):
    path = tmp_path / "one.h5"
    assert _cli(path, realistic="", **{**REAL, "frames": 1}) == 0
    xml, acqs = _read(path)
    limits = _limits(xml)
    assert limits.phase.maximum == 0 and limits.repetition.maximum == 0
    imaging = _imaging(acqs)
    assert {a.phase for a in imaging} == {0}
    mask = make_mask("kt-uniform", 32, 1, 4, seed=1)
    assert sorted(a.line for a in imaging) == np.flatnonzero(mask[0]).tolist()
    assert imaging[0].flag(ismrmrd.ACQ_FIRST_IN_PHASE) and imaging[-1].flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
    with h5py.File(path, "r") as f:
        assert f["reference/images"].shape == (1, 1, 32, 32)


def test_plain_files_carry_no_realistic_extras(cartesian_file):
    xml, acqs = _read(cartesian_file)
    assert b"snr_db" not in xml
    assert not any(a.flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION) for a in acqs)
    with h5py.File(cartesian_file, "r") as f:
        assert "calibration_only" not in f["reference"] and "snr_db" not in f["reference"].attrs


@pytest.mark.parametrize("opts", [
    dict(snr_db=40),
    dict(partial_fourier=0.75),
    dict(realistic="", snr=20),
    dict(realistic="", partial_fourier=0.4),
    dict(realistic="", partial_fourier=1.0),
    dict(realistic="", trajectory="radial", partial_fourier=0.75),
])
def test_bad_realistic_options_exit_2_without_output(tmp_path, capsys, opts):
    path = tmp_path / "bad.h5"
    assert _cli(path, matrix=16, frames=2, coils=1, **opts) == 2
    assert not path.exists()
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("gadgetron-inr: error: --")


def test_simulate_file_refuses_an_existing_file_without_force(tmp_path):
    path = tmp_path / "keep.h5"
    path.write_bytes(b"precious")
    with pytest.raises(UserError, match="exists"):
        simulate_file(path, matrix=16, frames=2, coils=1, acceleration=2)
    assert path.read_bytes() == b"precious"
