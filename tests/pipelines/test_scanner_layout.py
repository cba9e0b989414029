"""Raw data as scanners write them: Siemens GRAPPA layout, partial Fourier, oversampled readout, one frame.

The file mimics a real Siemens single-frame scan: an embedded 24-line ACS block in which the lines on
the R=3 lattice are flagged ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING and the others
ACQ_IS_PARALLEL_CALIBRATION, partial Fourier (lines numbered from the first acquired one, so the
header's centre is not the middle of the limits), a 2x oversampled readout and a noise scan.
"""

import h5py
import ismrmrd
import numpy as np
import pytest

from inr_core.metrics import score
from inr_core.simulate import Realism, simulate_cine
from pipelines.cli import main
from pipelines.commands.evaluate import load_pair
from pipelines.files.ismrmrd_io import read_images
from pipelines.files.raw_writer import write_raw

N, COILS, ACS, R = 64, 6, 24, 3


@pytest.fixture(scope="module")
def siemens_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("siemens") / "grappa_r3_pf.h5"
    sim = simulate_cine(N, 1, COILS, seed=3, realism=Realism(partial_fourier=0.8))
    lattice = np.zeros((1, N), bool)
    lattice[0, (N // 2) % R::R] = True  # the centre line is on the lattice, as on the scanner
    acs = np.arange(N // 2 - ACS // 2, N // 2 + ACS // 2)
    mask = lattice.copy()
    mask[0, acs] = True
    return write_raw(path, sim, mask=mask, pattern="equispaced", acceleration=R, acs_lines=acs, lattice=lattice)


def _replay(raw, out, method, *extra):
    return main(["replay", str(raw), "--method", method, "--device", "cpu", "--no-progress", "-o", str(out), *extra])


def test_the_file_has_the_siemens_layout(siemens_file):
    with ismrmrd.Dataset(str(siemens_file), "dataset", create_if_needed=False, mode="r") as dset:
        header = ismrmrd.xsd.CreateFromDocument(dset.read_xml_header())
        acqs = [dset.read_acquisition(i) for i in range(dset.number_of_acquisitions())]
    limits = header.encoding[0].encodingLimits.kspace_encoding_step_1
    assert limits.center != (limits.minimum + limits.maximum) // 2  # asymmetric: partial Fourier
    enc = header.encoding[0]
    assert enc.encodedSpace.matrixSize.x == 2 * enc.reconSpace.matrixSize.x
    flags = {"noise": ismrmrd.ACQ_IS_NOISE_MEASUREMENT, "cal": ismrmrd.ACQ_IS_PARALLEL_CALIBRATION,
             "cal+img": ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING}
    counts = {k: sum(a.is_flag_set(f) for a in acqs) for k, f in flags.items()}
    assert counts["noise"] > 0 and counts["cal+img"] == ACS // R and counts["cal"] == ACS - ACS // R


@pytest.mark.timeout(300)
def test_a_siemens_grappa_file_reconstructs_at_the_recon_matrix_and_beats_zero_filled(siemens_file, tmp_path, capsys):
    psnr = {}
    for method in ("zero-filled", "cg-sense", "kt-grappa"):
        out = tmp_path / f"{method}.h5"
        assert _replay(siemens_file, out, method) == 0, capsys.readouterr().err
        (series,) = read_images(out)
        assert series.frames().shape == (1, 1, N, N)  # reconSpace, readout oversampling removed
        assert tuple(series.headers["matrix_size"][0]) == (N, N, 1)
        assert np.allclose(series.headers["field_of_view"][0][:2], (320.0, 320.0))
        recon, reference = load_pair(out, siemens_file)
        psnr[method] = float(score(recon, reference, "kp-inr")["psnr"][0])
    assert capsys.readouterr().out == ""
    # Measured: zero-filled 28.9, cg-sense 36.8, kt-grappa (plain GRAPPA on one frame) 36.8 dB.
    assert psnr["cg-sense"] > psnr["zero-filled"] + 4, psnr
    assert psnr["kt-grappa"] > psnr["zero-filled"] + 4, psnr


@pytest.mark.timeout(300)
def test_temporal_methods_refuse_a_single_frame_with_one_line(siemens_file, tmp_path, capsys):
    assert _replay(siemens_file, tmp_path / "ls.h5", "l-plus-s") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "needs at least 2 frames" in err[-1] and "cg-sense" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "ls.h5").exists()


def test_the_reference_marks_the_calibration_only_lines(siemens_file):
    with h5py.File(siemens_file, "r") as f:
        calibration_only = f["reference/calibration_only"][0, 0]
    assert calibration_only.sum() == ACS - ACS // R


@pytest.mark.parametrize("as_data", [True, False])
def test_off_lattice_embedded_acs_lines_are_data_of_their_frame_unless_turned_off(tmp_path, as_data):
    from gadgets.base import Chain
    from gadgets.cine_buffer import CineBuffer
    from gadgets.oversampling import RemoveReadoutOversampling
    from pipelines.commands.simulate import simulate_file
    from pipelines.files.ismrmrd_io import open_raw

    path = simulate_file(tmp_path / "kt.h5", pattern="kt-uniform", acceleration=4, frames=6, matrix=48, coils=4,
                         seed=2, realistic=True)
    with h5py.File(path, "r") as f:
        mask, calibration_only = f["reference/mask"][0], f["reference/calibration_only"][0]
    assert calibration_only.any()  # the realistic simulation flags the Siemens way
    raw = open_raw(path)
    chain = Chain(stages=[RemoveReadoutOversampling(), CineBuffer()])
    chain.setup({"calibration_as_data": str(as_data).lower()}, raw.header)
    (cine,) = list(chain.stream(raw.acquisitions()))
    expected = mask if as_data else mask & ~calibration_only
    np.testing.assert_array_equal(cine.data.mask.numpy(), expected)
    assert cine.data.calibration_mask[np.flatnonzero(mask.all(0))].all()  # the whole ACS block calibrates
