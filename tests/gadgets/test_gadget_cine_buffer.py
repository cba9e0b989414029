"""CineBuffer: line placement, flags, averaging, frames, radial trajectories, emission."""

import ismrmrd
import numpy as np
import pytest
from gadget_helpers import make_acq, make_header

from gadgets.base import GadgetError
from gadgets.cine_buffer import CineBuffer
from gadgets.items import CineSlice

C, NX, NY = 2, 8, 8


def line_data(frame, line, value=None):
    """Readout whose value encodes (frame, line), so placement can be checked."""
    v = value if value is not None else frame * 100 + line + 1
    return np.full((C, NX), v, np.complex64)


def run(buffer, acqs):
    return [item for item in buffer.stream(acqs) if isinstance(item, CineSlice)]


def test_out_of_order_lines_land_in_their_frame_and_row():
    header = make_header(nx=NX, ny=NY, channels=C, phases=3)
    acqs = [make_acq(line_data(t, y), line=y, phase=t) for t in range(3) for y in range(0, NY, 2)]
    order = np.random.default_rng(0).permutation(len(acqs))
    (cine,) = run(CineBuffer({}, header), [acqs[i] for i in order])
    k, mask = cine.data.kspace.numpy(), cine.data.mask.numpy()
    assert k.shape == (3, C, NY, NX) and cine.frame_dimension == "phase"
    assert mask[:, ::2].all() and not mask[:, 1::2].any()
    assert k[2, 1, 4, 0] == 2 * 100 + 4 + 1 and k[0, 0, 1, 0] == 0
    # No calibration mode in the header: the calibration is the time average of the imaging lines.
    assert cine.data.calibration_mask.tolist() == mask.any(0).tolist()
    assert cine.data.calibration[1, 4, 0] == 100 + 4 + 1  # mean of 5, 105, 205


def test_kspace_centre_line_lands_at_ny_half():
    header = make_header(nx=NX, ny=NY, channels=C, center_line=2)
    (cine,) = run(CineBuffer({}, header), [make_acq(line_data(0, 2), line=2)])
    assert cine.data.mask[0].nonzero().flatten().tolist() == [NY // 2]


def test_a_centre_line_left_at_zero_means_the_middle_line():
    header = make_header(nx=NX, ny=NY, channels=C, center_line=0)
    (cine,) = run(CineBuffer({}, header), [make_acq(line_data(0, 4), line=4)])
    assert cine.data.mask[0].nonzero().flatten().tolist() == [NY // 2]


def _acs_scan(calibration_mode, properties=None):
    """Two frames: imaging line 0, calibration-only line 4 (values 1 and 3), calibration-and-imaging line 5."""
    header = make_header(nx=NX, ny=NY, channels=C, phases=2, calibration_mode=calibration_mode)
    acqs = [make_acq(line_data(t, 0), line=0, phase=t) for t in range(2)]
    acqs += [make_acq(line_data(t, 4, value=1 + 2 * t), line=4, phase=t, flags=[ismrmrd.ACQ_IS_PARALLEL_CALIBRATION])
             for t in range(2)]
    acqs += [make_acq(line_data(t, 5), line=5, phase=t, flags=[ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING])
             for t in range(2)]
    (cine,) = run(CineBuffer(properties or {}, header), acqs)
    return cine.data


def test_embedded_calibration_only_lines_are_data_of_their_frame_and_calibration():
    data = _acs_scan("embedded")
    assert data.mask[:, [0, 4, 5]].all() and data.mask.sum() == 6
    assert data.kspace[0, 0, 4, 0] == 1 and data.kspace[1, 0, 4, 0] == 3  # each frame keeps its own line
    assert data.calibration_mask.nonzero().flatten().tolist() == [0, 4, 5]  # imaging lines pooled in
    assert data.calibration[0, 4, 0] == 2  # mean of 1 and 3
    assert data.calibration[0, 5, 0] == (6 + 106) / 2


def test_embedded_calibration_only_lines_stay_out_of_the_data_when_turned_off():
    data = _acs_scan("embedded", {"calibration_as_data": "false"})
    assert data.mask[:, 4].sum() == 0 and data.mask[:, [0, 5]].all()
    assert data.calibration_mask.nonzero().flatten().tolist() == [0, 4, 5]
    assert data.calibration[0, 4, 0] == 2


def test_a_separate_reference_scan_is_calibration_only_and_not_mixed_with_the_cine():
    data = _acs_scan("separate")
    assert data.mask[:, 4].sum() == 0 and data.mask[:, [0, 5]].all()
    assert data.calibration_mask.nonzero().flatten().tolist() == [4, 5]  # the imaging line 0 is not pooled


def test_calibration_as_data_must_be_a_boolean():
    header = make_header(nx=NX, ny=NY, channels=C, calibration_mode="embedded")
    with pytest.raises(GadgetError, match=r"invalid value .maybe. for CineBuffer.calibration_as_data \(expected bool"):
        CineBuffer({"calibration_as_data": "maybe"}, header)


def test_3d_encodings_are_refused():
    header = make_header(nx=NX, ny=NY, channels=C)
    header.encoding[0].encodedSpace.matrixSize.z = 4
    with pytest.raises(GadgetError, match="3D encodings are not supported"):
        CineBuffer({}, header)


def test_reverse_readouts_are_flipped_and_averages_averaged():
    header = make_header(nx=NX, ny=NY, channels=C)
    ramp = np.tile(np.arange(NX, dtype=np.complex64), (C, 1))
    acqs = [make_acq(ramp[:, ::-1], line=1, flags=[ismrmrd.ACQ_IS_REVERSE]),
            make_acq(ramp * 2, line=2, average=0), make_acq(ramp * 4, line=2, average=1)]
    (cine,) = run(CineBuffer({}, header), acqs)
    np.testing.assert_array_equal(cine.data.kspace[0, 0, 1].numpy(), ramp[0])
    np.testing.assert_array_equal(cine.data.kspace[0, 0, 2].numpy(), ramp[0] * 3)


@pytest.mark.parametrize("flag", [ismrmrd.ACQ_IS_DUMMYSCAN_DATA, ismrmrd.ACQ_IS_NAVIGATION_DATA,
                                  ismrmrd.ACQ_IS_PHASECORR_DATA, ismrmrd.ACQ_IS_NOISE_MEASUREMENT])
def test_non_imaging_readouts_are_skipped(flag):
    header = make_header(nx=NX, ny=NY, channels=C)
    (cine,) = run(CineBuffer({}, header), [make_acq(line_data(0, 3), line=3, flags=[flag]),
                                          make_acq(line_data(0, 1), line=1)])
    assert cine.data.mask[0].nonzero().flatten().tolist() == [1]


def test_repetitions_are_frames_and_the_slice_is_emitted_after_the_last_one():
    header = make_header(nx=NX, ny=NY, channels=C, repetitions=3)
    buffer = CineBuffer({}, header)
    emitted = []
    for r in range(3):
        emitted += list(buffer.process(make_acq(line_data(r, r), line=r, repetition=r,
                                                flags=[ismrmrd.ACQ_LAST_IN_SLICE])))
        assert len(emitted) == (1 if r == 2 else 0)
    (cine,) = emitted
    assert cine.frame_dimension == "repetition" and cine.frames == 3
    assert [h.idx.repetition for h in cine.frame_headers] == [0, 1, 2]
    assert list(buffer.flush()) == []


def test_a_partial_slice_is_emitted_at_flush_and_slices_separately():
    header = make_header(nx=NX, ny=NY, channels=C, phases=4, slices=2)
    acqs = [make_acq(line_data(t, 1), line=1, phase=t, slice=s) for s in (1, 0) for t in range(2)]
    cines = run(CineBuffer({}, header), acqs)
    assert [c.slice for c in cines] == [0, 1] and all(c.frames == 2 for c in cines)


def test_frame_reference_header_is_the_line_nearest_the_centre():
    header = make_header(nx=NX, ny=NY, channels=C)
    acqs = [make_acq(line_data(0, y), line=y, scan_counter=y) for y in (0, 5, 2)]
    (cine,) = run(CineBuffer({}, header), acqs)
    assert cine.frame_headers[0].scan_counter == 5  # row 5 is nearest the centre row 4


def radial_acqs(scale, frames=2, spokes=3, n=NX):
    acqs = []
    for t in range(frames):
        for s in range(spokes):
            angle = np.pi * (s + 0.5 * t) / spokes
            r = (np.arange(n) - n // 2) * scale
            traj = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
            acqs.append(make_acq(line_data(t, s), line=s, phase=t, traj=traj))
    return acqs


@pytest.mark.parametrize("scale, factor", [(1.0, 1.0), (1.0 / NX, NX)])
def test_radial_spokes_and_trajectory_in_cycles_per_fov(scale, factor):
    header = make_header(nx=NX, ny=NX, channels=C, phases=2, trajectory="radial")
    (cine,) = run(CineBuffer({}, header), radial_acqs(scale)[::-1])
    assert cine.data.trajectory == "radial" and tuple(cine.data.kspace.shape) == (2, C, 3, NX)
    assert tuple(cine.data.trajectory_k.shape) == (2, 3, NX, 2)
    assert float(cine.data.trajectory_k.abs().max()) == pytest.approx(NX / 2 * scale * factor, rel=1e-5)
    assert cine.data.kspace[1, 0, 2, 0] == 100 + 2 + 1  # spokes ordered by index, not arrival
    assert cine.data.image_shape == (NX, NX)


def test_radial_trajectory_beyond_the_fov_is_refused():
    header = make_header(nx=NX, ny=NX, channels=C, phases=2, trajectory="radial")
    with pytest.raises(GadgetError, match="trajectory"):
        run(CineBuffer({}, header), radial_acqs(4.0))


def test_unsupported_trajectory_is_refused():
    with pytest.raises(GadgetError, match="spiral"):
        CineBuffer({}, make_header(trajectory="spiral"))


def test_coil_count_change_is_refused():
    buffer = CineBuffer({}, make_header(nx=NX, ny=NY, channels=C))
    buffer.process(make_acq(line_data(0, 0), line=0))
    with pytest.raises(GadgetError, match="coil-count mismatch"):
        buffer.process(make_acq(np.ones((3, NX)), line=1, scan_counter=7))


def test_a_non_finite_sample_is_refused_on_every_host():
    header = make_header(nx=NX, ny=NY, channels=C)
    bad = line_data(0, 1)
    bad[1, 3] = np.nan
    with pytest.raises(GadgetError, match="scan_counter 7 contains NaN or Inf"):
        run(CineBuffer({}, header), [make_acq(line_data(0, 0), line=0), make_acq(bad, line=1, scan_counter=7)])
