"""Write a simulated cine as a standard ISMRMRD v1 raw file, plus the fully sampled truth.

File layout
- ``/dataset/xml``: the header (validated against the ISMRMRD XSD when lxml is installed).
- ``/dataset/data``: the acquisitions, in acquisition order:
  1. a noise scan: the simulation's noise samples cut into readouts of the imaging length (32 by
     default), flagged ACQ_IS_NOISE_MEASUREMENT, with the dwell time of the imaging readouts (so
     ``relativeReceiverNoiseBandwidth`` is 1.0 in the header);
  2. the imaging readouts of a segmented, ECG-triggered cine: in heartbeat h, for each cardiac phase t,
     a segment of up to ``views_per_segment`` lines (Cartesian, ascending line order across the
     segments) or spokes (radial). Acquisition order is therefore not frame order.
- ``/reference``: ``images`` complex64 (slices, frames, ny, nx), ``coil_maps`` complex64
  (slices, coils, ny, nx), ``heart_mask`` bool (slices, frames, ny, nx), ``noise_covariance`` complex128
  (coils, coils) (relative; times ``noise_std**2``), ``mask`` bool (slices, frames, ny) for Cartesian (the
  rows acquired), ``calibration_only`` bool (slices, frames, ny) where ACS lines are flagged the Siemens way
  (True: flagged ACQ_IS_PARALLEL_CALIBRATION only); attributes describe the simulation (seed, snr,
  noise_std, pattern, acceleration, ...; realistic files add snr_db, snr_db_definition,
  background_phase_rad, partial_fourier, first_line, acs_flags, coil_array and g_factor_r4_mean/max:
  the equispaced R=4 g-factor of the true maps over the heart, when ny % 4 == 0 and coils >= 4).
- A short-axis stack (``slices`` > 1): the noise scan once, then slice 0, 1, ... each a whole
  segmented cine in its own breath-hold (``Protocol.breath_beats`` heartbeats between them),
  ``idx.slice`` = k, ``position`` stepping ``slice_thickness + slice_gap`` along ``slice_dir`` (same
  read/phase/slice directions), ``encodingLimits.slice`` 0 .. slices-1; ``/reference`` attributes add
  ``slices``, ``slice_seeds``, ``slice_snr`` and ``slice_positions_mm``.

Readouts
- ``idx.phase`` = frame (cardiac phase), ``idx.kspace_encode_step_1`` = line (Cartesian, DC line
  ny//2 = ``encodingLimits.kspace_encoding_step_1.center``) or spoke number within the frame (radial).
- Partial Fourier (Cartesian, fraction F): rows ``first = ny - round(F ny)`` .. ny-1 are acquired and
  numbered as scanners do, line = row - first: limits 0 .. ny-1-first with centre ny//2 - first (not
  the middle of the limits); ``encodedSpace.y`` stays ny, so a reader puts line l at row
  l - centre + ny//2.
- ``number_of_samples`` = readout_oversampling * nx with ``center_sample`` = samples // 2.
- Radial: ``trajectory_dimensions`` = 2, ``traj`` (samples, 2) float32 (kx, ky) in cycles per FOV of
  the reconstructed image (reconSpace): the 2x oversampled spoke runs from -n/2 to n/2 - 0.5.
- Flags: ACQ_IS_NOISE_MEASUREMENT; ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING on the embedded ACS lines
  (they are in every frame's mask) or, given the pattern's lattice (Siemens layout), only on the ACS
  lines of a frame that lie on that frame's lattice and ACQ_IS_PARALLEL_CALIBRATION on the other ACS
  lines; ACQ_FIRST_IN_SLICE on the first imaging readout of each slice, ACQ_LAST_IN_SLICE on its
  last, ACQ_LAST_IN_MEASUREMENT on the last readout of the scan; ACQ_FIRST_IN_PHASE /
  ACQ_LAST_IN_PHASE on the first / last readout acquired for each cardiac phase (of each slice).
- ``acquisition_time_stamp`` (since midnight) and ``physiology_time_stamp[0]`` (time since the R wave)
  in ticks of 2.5 ms.

The file is written under a temporary name and renamed at the end, so a failed run leaves nothing.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import ismrmrd
import ismrmrd.xsd as xsd
import numpy as np

from inr_core.sampling import GOLDEN_ANGLE_DEG
from inr_core.simulate import SNR_DB_DEFINITION, SimulatedCine, g_factor
from pipelines.files.outputs import atomic_output

log = logging.getLogger(__name__)

XSD_PATHS = ("/usr/share/ismrmrd/schema/ismrmrd.xsd",)
TICK_MS = 2.5
TRAJECTORY_UNITS = "cycles_per_recon_fov"


@dataclass
class Protocol:
    """Acquisition parameters that only matter for the header and the timing of the readouts."""

    fov_mm: float = 320.0  # reconstructed FOV along the larger image side
    slice_thickness_mm: float = 8.0
    tr_ms: float = 3.0  # bSSFP
    te_ms: float = 1.5
    flip_deg: float = 50.0
    heart_rate_bpm: float = 60.0
    bandwidth_hz_per_px: float = 930.0
    field_strength_t: float = 1.5
    start_time_s: float = 10 * 3600.0  # 10:00 in the morning
    slice_gap_mm: float = 2.0  # between neighbouring slices of a stack (centres thickness + gap apart)
    breath_beats: int = 3  # heartbeats between the breath-holds of a stack's slices (the patient breathes)


@dataclass
class Readout:
    frame: int
    index: int  # line (Cartesian) or spoke (radial)
    heartbeat: int
    time_ms: float  # since the start of imaging
    trigger_ms: float  # since the R wave


# ---- acquisition order and timing -----------------------------------------------------------------

def views_per_segment(frames: int, protocol: Protocol) -> int:
    """How many readouts fit in one cardiac phase's window of the RR interval."""
    rr = 60000.0 / protocol.heart_rate_bpm
    return max(1, int(rr / (frames * protocol.tr_ms)))


def segmented_order(sampled: np.ndarray, protocol: Protocol) -> list[Readout]:
    """Readouts of an ECG-triggered segmented cine for a (frames, n) bool table of lines/spokes to acquire.

    Each frame's list is split into consecutive segments of ``views_per_segment`` readouts; heartbeat h
    acquires segment h of every frame in turn, starting frame t at t * RR / frames after the R wave.
    """
    frames = sampled.shape[0]
    vps = views_per_segment(frames, protocol)
    rr = 60000.0 / protocol.heart_rate_bpm
    per_frame = [np.flatnonzero(sampled[t]) for t in range(frames)]
    beats = max(math.ceil(len(lines) / vps) for lines in per_frame)
    order = []
    for h in range(beats):
        for t in range(frames):
            for j, idx in enumerate(per_frame[t][h * vps:(h + 1) * vps]):
                trigger = t * rr / frames + j * protocol.tr_ms
                order.append(Readout(t, int(idx), h, h * rr + trigger, trigger))
    return order


# ---- header ---------------------------------------------------------------------------------------

def _limit(maximum: int, center: int = 0) -> xsd.limitType:
    return xsd.limitType(minimum=0, maximum=int(maximum), center=int(center))


def _space(nx: int, ny: int, fov_x: float, fov_y: float, fov_z: float) -> xsd.encodingSpaceType:
    return xsd.encodingSpaceType(
        matrixSize=xsd.matrixSizeType(x=int(nx), y=int(ny), z=1),
        fieldOfView_mm=xsd.fieldOfViewMm(x=float(fov_x), y=float(fov_y), z=float(fov_z)))


def _user_parameters(longs: dict, doubles: dict, strings: dict) -> xsd.userParametersType:
    # Plain Python types only: numpy scalars serialise as invalid XML (e.g. "np.float64(1.0)").
    return xsd.userParametersType(
        userParameterLong=[xsd.userParameterLongType(name=k, value=int(v)) for k, v in longs.items()],
        userParameterDouble=[xsd.userParameterDoubleType(name=k, value=float(v)) for k, v in doubles.items()],
        userParameterString=[xsd.userParameterStringType(name=k, value=str(v)) for k, v in strings.items()])


def build_header(sim: SimulatedCine, protocol: Protocol, pattern: str | None, acceleration: float | None,
                 spokes: int | None, beats: int, first_line: int = 0, slices: int = 1) -> xsd.ismrmrdHeader:
    """The header; ``first_line`` > 0 is a partial-Fourier scan missing rows 0 .. first_line-1;
    ``slices`` > 1 a short-axis stack (``encodingLimits.slice`` 0 .. slices-1, ``beats`` per slice)."""
    ny, nx = sim.image_shape
    ro = sim.readout_oversampling
    frames, coils = sim.frames, sim.coils
    fov_x = protocol.fov_mm * nx / max(nx, ny)
    fov_y = protocol.fov_mm * ny / max(nx, ny)
    radial = sim.trajectory == "radial"
    lines, center = (int(spokes), 0) if radial else (ny - first_line, ny // 2 - first_line)

    encoding = xsd.encodingType(
        encodedSpace=_space(ro * nx, ny, ro * fov_x, fov_y, protocol.slice_thickness_mm),
        reconSpace=_space(nx, ny, fov_x, fov_y, protocol.slice_thickness_mm),
        encodingLimits=xsd.encodingLimitsType(
            kspace_encoding_step_0=_limit(ro * nx - 1, ro * nx // 2),
            kspace_encoding_step_1=_limit(lines - 1, center),
            kspace_encoding_step_2=_limit(0), average=_limit(0), slice=_limit(slices - 1), contrast=_limit(0),
            phase=_limit(frames - 1), repetition=_limit(0), set=_limit(0), segment=_limit(0)),
        trajectory=xsd.trajectoryType.RADIAL if radial else xsd.trajectoryType.CARTESIAN)
    if radial:
        encoding.trajectoryDescription = xsd.trajectoryDescriptionType(
            identifier="golden_angle_radial",
            userParameterLong=[xsd.userParameterLongType(name="spokes_per_frame", value=int(spokes))],
            userParameterDouble=[xsd.userParameterDoubleType(name="golden_angle_deg", value=float(GOLDEN_ANGLE_DEG))],
            comment="traj (kx, ky) in cycles per FOV of reconSpace; full spokes, golden angle continuous across frames")
    else:
        encoding.parallelImaging = xsd.parallelImagingType(
            accelerationFactor=xsd.accelerationFactorType(kspace_encoding_step_1=max(1, int(round(acceleration))),
                                                          kspace_encoding_step_2=1),
            calibrationMode=xsd.calibrationModeType.EMBEDDED)

    rr = 60000.0 / protocol.heart_rate_bpm
    return xsd.ismrmrdHeader(
        subjectInformation=xsd.subjectInformationType(patientName="Phantom^Cardiac", patientID="GADGETRON-INR-SIM"),
        measurementInformation=xsd.measurementInformationType(
            # Gadgetron parses DEVICE_SUBJECT_STUDY_MEAS (no other underscores) and warns on every
            # scan otherwise: simulator, phantom, study 1, the seed as the measurement number.
            measurementID=f"SIM_PHANTOM_1_{int(sim.seed)}", patientPosition=xsd.patientPositionType.HFS,
            protocolName="gadgetron-inr simulated cine"),  # no sequenceName: older XSDs reject it
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemVendor="gadgetron-inr", systemModel="simulator",
            systemFieldStrength_T=float(protocol.field_strength_t),
            relativeReceiverNoiseBandwidth=1.0, receiverChannels=int(coils)),
        experimentalConditions=xsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=int(round(42.577478e6 * protocol.field_strength_t))),
        encoding=[encoding],
        sequenceParameters=xsd.sequenceParametersType(
            TR=[float(protocol.tr_ms)], TE=[float(protocol.te_ms)], flipAngle_deg=[float(protocol.flip_deg)],
            sequence_type="TrueFISP"),
        userParameters=_user_parameters(
            longs={"seed": sim.seed, "frames": frames, "heartbeats": beats,
                   **({"slices": slices} if slices > 1 else {}),
                   "views_per_segment": views_per_segment(frames, protocol),
                   "readout_oversampling": ro, **({"spokes_per_frame": spokes} if radial else {})},
            doubles={"snr": sim.snr, "noise_std": sim.noise_std, "RR_interval_ms": rr,
                     **({} if radial else {"acceleration": acceleration}), **_realism_doubles(sim, first_line)},
            strings={"simulator": "gadgetron-inr simulate", "trajectory_units": TRAJECTORY_UNITS,
                     **({} if radial else {"sampling_pattern": pattern})}),
    )


def _realism_doubles(sim: SimulatedCine, first_line: int) -> dict:
    """Header parameters only realistic files carry (so plain files keep their exact header)."""
    if sim.realism is None:
        return {}
    out = {"snr_db": sim.snr_db}
    if first_line:
        out["partial_fourier"] = sim.realism.partial_fourier
    return out


def header_errors(xml: str | bytes) -> list[str] | None:
    """XSD validation messages (empty when valid), or None when lxml or the schema is unavailable."""
    try:
        from lxml import etree
    except ImportError:
        return None
    schema_path = next((p for p in XSD_PATHS if os.path.exists(p)), None)
    if schema_path is None:
        return None
    schema = etree.XMLSchema(etree.parse(schema_path))
    doc = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    return [] if schema.validate(doc) else [str(e) for e in schema.error_log]


# ---- acquisitions ---------------------------------------------------------------------------------

def _slice_orientation():
    """An oblique short-axis-like orientation: orthonormal, right-handed (read x phase = slice)."""
    slice_dir = np.array([0.55, -0.45, -0.70])
    slice_dir /= np.linalg.norm(slice_dir)
    read = np.array([0.80, 0.60, 0.0])
    read -= read @ slice_dir * slice_dir
    read /= np.linalg.norm(read)
    phase = np.cross(slice_dir, read)
    return [tuple(float(v) for v in d) for d in (read, phase, slice_dir)]


_READ, _PHASE, _SLICE = _slice_orientation()
_POSITION = (-12.5, 35.0, 20.0)  # slice centre in the patient coordinate system, mm


def slice_positions(slices: int, protocol: Protocol) -> list[tuple[float, float, float]]:
    """Slice centres (mm, patient coordinates) of a stack: ``slice_thickness + slice_gap`` apart along
    ``slice_dir``, centred on the single-slice position (which a one-slice scan keeps exactly)."""
    if slices == 1:
        return [_POSITION]
    spacing = protocol.slice_thickness_mm + protocol.slice_gap_mm
    return [tuple(float(p + (k - (slices - 1) / 2) * spacing * d) for p, d in zip(_POSITION, _SLICE, strict=True))
            for k in range(slices)]


def _acquisition(data: np.ndarray, dwell_us: float, counter: int, time_ms: float, trigger_ms: float,
                 traj: np.ndarray | None = None, position=_POSITION) -> ismrmrd.Acquisition:
    acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, dtype=np.complex64), traj)
    acq.version = 1
    acq.scan_counter = counter
    acq.center_sample = data.shape[1] // 2
    acq.sample_time_us = float(dwell_us)
    acq.acquisition_time_stamp = int(time_ms / TICK_MS)
    acq.physiology_time_stamp[0] = int(trigger_ms / TICK_MS)
    acq.position[:] = position
    acq.read_dir[:] = _READ
    acq.phase_dir[:] = _PHASE
    acq.slice_dir[:] = _SLICE
    acq.patient_table_position[:] = (0.0, 0.0, 0.0)
    for c in range(data.shape[0]):
        acq.setChannelActive(c)
    return acq


def _noise_acquisitions(sim: SimulatedCine, protocol: Protocol, samples: int, dwell_us: float, t0_ms: float):
    noise = sim.noise.numpy()
    count = noise.shape[1] // samples
    for i in range(count):
        acq = _acquisition(noise[:, i * samples:(i + 1) * samples], dwell_us, i + 1,
                           t0_ms + i * protocol.tr_ms, 0.0)
        acq.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
        yield acq


def _imaging_acquisitions(sim, order, acs, calibration_only, first_line, dwell_us, first_counter, t0_ms,
                          slice_index=0, position=_POSITION, last_slice=True):
    """Imaging readouts of one slice; ``calibration_only`` (frames, ny) bool or None marks the ACS lines
    flagged CALIBRATION only, ``first_line`` is subtracted from the row to number the lines (partial
    Fourier). ACQ_FIRST_IN_SLICE / ACQ_LAST_IN_SLICE on the slice's first / last readout, as ISMRMRD
    defines them; ACQ_LAST_IN_MEASUREMENT only on the last readout of the ``last_slice``."""
    kspace = sim.kspace.numpy()
    traj = None if sim.trajectory_k is None else sim.trajectory_k.numpy()
    first_of = {}
    last_of = {}
    for i, r in enumerate(order):
        first_of.setdefault(r.frame, i)
        last_of[r.frame] = i
    for i, r in enumerate(order):
        acq = _acquisition(kspace[r.frame, :, r.index, :], dwell_us, first_counter + i, t0_ms + r.time_ms,
                           r.trigger_ms, None if traj is None else traj[r.frame, r.index], position)
        acq.idx.kspace_encode_step_1 = r.index - first_line
        acq.idx.slice = slice_index
        acq.idx.phase = r.frame
        if calibration_only is not None and calibration_only[r.frame, r.index]:
            acq.set_flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION)
        elif r.index in acs:
            acq.set_flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING)
        if i == 0:
            acq.set_flag(ismrmrd.ACQ_FIRST_IN_SLICE)
        if i == len(order) - 1:
            acq.set_flag(ismrmrd.ACQ_LAST_IN_SLICE)
            if last_slice:
                acq.set_flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
        if first_of[r.frame] == i:
            acq.set_flag(ismrmrd.ACQ_FIRST_IN_PHASE)
        if last_of[r.frame] == i:
            acq.set_flag(ismrmrd.ACQ_LAST_IN_PHASE)
        yield acq


# ---- the file -------------------------------------------------------------------------------------

def _rows(acqs: list) -> np.ndarray:
    """Readouts as rows of the layout of ``ismrmrd.Dataset.append_acquisition`` (which resizes the
    dataset once per readout and is ~100x slower than writing rows in bulk)."""
    rows = np.empty(len(acqs), dtype=ismrmrd.hdf5.acquisition_dtype)
    for i, acq in enumerate(acqs):
        rows[i]["head"] = np.frombuffer(acq.getHead(), dtype=ismrmrd.hdf5.acquisition_header_dtype)[0]
        rows[i]["data"] = acq.data.view(np.float32).reshape(-1)
        rows[i]["traj"] = acq.traj.view(np.float32).reshape(-1)
    return rows


def _write_acquisitions(path: Path, acqs: list) -> None:
    """Append readouts to ``/dataset/data`` (created by the first call): one HDF5 write per call."""
    rows = _rows(acqs)
    with h5py.File(path, "a") as f:
        if "data" not in f["dataset"]:
            f["dataset"].create_dataset("data", data=rows, maxshape=(None,), chunks=True)
            return
        data = f["dataset/data"]
        start = data.shape[0]
        data.resize((start + len(rows),))
        data[start:] = rows


def _write_reference(path: Path, sims: list[SimulatedCine], mask, attrs: dict, calibration_only=None) -> None:
    """``/reference``: the per-slice arrays stacked on their first axis (slices, ...)."""
    with h5py.File(path, "a") as f:
        ref = f.create_group("reference")
        opts = {"compression": "gzip", "compression_opts": 4}
        ref.create_dataset("images", data=np.stack([s.images.numpy() for s in sims]).astype(np.complex64), **opts)
        ref.create_dataset("coil_maps", data=np.stack([s.coil_maps.numpy() for s in sims]).astype(np.complex64),
                           **opts)
        ref.create_dataset("heart_mask", data=np.stack([s.heart_mask for s in sims]), **opts)
        ref.create_dataset("noise_covariance", data=sims[0].noise_covariance)
        if mask is not None:  # every slice is sampled with the same pattern, as on a scanner
            ref.create_dataset("mask", data=np.repeat(np.asarray(mask, dtype=bool)[None], len(sims), axis=0))
        if calibration_only is not None:
            ref.create_dataset("calibration_only", data=np.repeat(calibration_only[None], len(sims), axis=0))
        for key, value in attrs.items():
            ref.attrs[key] = value


def _calibration_only(sampled: np.ndarray, acs_lines, lattice: np.ndarray | None) -> np.ndarray | None:
    """Siemens layout: an acquired ACS line of frame t is calibration-only unless frame t's own lattice
    has it too (then it is calibration and imaging). None without a lattice: all ACS lines are both."""
    if lattice is None:
        return None
    acs = np.zeros(sampled.shape[1], dtype=bool)
    acs[np.asarray(list(acs_lines), dtype=np.int64)] = True
    return sampled & acs[None] & ~np.asarray(lattice, dtype=bool)


def _realism_attrs(sim: SimulatedCine, first_line: int, calibration_only) -> dict:
    """Reference attributes of a realistic file: the noise definition and what the scan looks like
    (of a stack: the g-factor and the dB figure of slice 0, whose noise level every slice shares)."""
    attrs = {"realistic": True, "snr_db": float(sim.snr_db), "snr_db_definition": SNR_DB_DEFINITION,
             "background_phase_rad": float(sim.realism.background_phase_rad),
             "coil_array": "cardiac: two rows of loop coils, anterior and posterior"}
    if sim.trajectory == "cartesian":
        attrs.update(partial_fourier=float(sim.realism.partial_fourier or 1.0), first_line=int(first_line),
                     acs_flags="siemens" if calibration_only is not None else "calibration_and_imaging")
    if sim.image_shape[0] % 4 == 0 and sim.coils >= 4:
        heart = sim.heart_mask.any(axis=0)
        g = g_factor(sim.coil_maps, 4)[heart]
        attrs.update(g_factor_r4_mean=float(g.mean()), g_factor_r4_max=float(g.max()))
    return attrs


def write_raw(path, sim: SimulatedCine | Iterable[SimulatedCine], mask: np.ndarray | None = None,
              pattern: str | None = None, acceleration: float | None = None, acs_lines=(),
              protocol: Protocol | None = None, lattice: np.ndarray | None = None, slices: int = 1,
              only_slice: int | None = None) -> Path:
    """Write ``sim`` as an ISMRMRD raw file at ``path``.

    Cartesian: ``mask`` (frames, ny) bool picks the lines to write, ``acs_lines`` the embedded ACS line
    indices (flagged calibration-and-imaging). With ``lattice`` (frames, ny), the mask without its ACS
    block, the ACS lines are flagged the Siemens way instead (see the module docstring); with
    ``sim.realism.partial_fourier`` the first rows are not written. Radial: every simulated spoke is
    written.

    A short-axis stack: ``sim`` an iterable of ``slices`` SimulatedCines (``inr_core.simulate.
    simulate_stack``, consumed one slice at a time), slice k at ``slice_positions(slices)[k]`` with
    ``idx.slice`` k, acquired slice after slice (one breath-hold each, ``Protocol.breath_beats``
    heartbeats apart), one noise scan (slice 0's) before the first, every slice sampled with the same
    mask. ``only_slice`` k writes the noise scan and slice k alone, with the header and time stamps
    of the whole stack: the file that slice k of the stack replays like on its own.
    """
    protocol = protocol or Protocol()
    path = Path(path)
    sims = iter([sim] if isinstance(sim, SimulatedCine) else sim)
    if only_slice is not None and not 0 <= only_slice < slices:
        raise ValueError(f"only_slice must be in 0..{slices - 1}, got {only_slice}")
    first = next(sims)
    radial = first.trajectory == "radial"
    first_line = 0
    if radial:
        sampled = np.ones(first.kspace.shape[0:1] + first.kspace.shape[2:3], dtype=bool)  # (T, spokes)
        spokes = sampled.shape[1]
    else:
        if mask is None:
            raise ValueError("Cartesian data needs a sampling mask")
        sampled, spokes = np.array(mask, dtype=bool), None
        if first.realism is not None:
            first_line = first.realism.first_line(sampled.shape[1])
            sampled[:, :first_line] = False
    calibration_only = None if radial else _calibration_only(sampled, acs_lines, lattice)
    order = segmented_order(sampled, protocol)
    beats = max(r.heartbeat for r in order) + 1
    header = build_header(first, protocol, pattern, acceleration, spokes, beats, first_line, slices)
    xml = xsd.ToXML(header, "utf-8")
    errors = header_errors(xml)
    if errors:
        raise ValueError("generated ISMRMRD header does not validate: " + "; ".join(errors[:3]))

    samples = first.kspace.shape[-1]
    nx = first.image_shape[1]
    dwell_us = 1e6 / (protocol.bandwidth_hz_per_px * nx * first.readout_oversampling)
    t0_ms = protocol.start_time_s * 1000.0
    noise_t0 = t0_ms - (first.noise.shape[1] // samples + 10) * protocol.tr_ms  # the noise scan just before imaging
    rr = 60000.0 / protocol.heart_rate_bpm
    slice_ms = (beats + protocol.breath_beats) * rr  # one breath-hold, then the patient breathes
    positions = slice_positions(slices, protocol)
    acs = set(int(a) for a in acs_lines)

    with atomic_output(path, "raw file") as tmp:
        dset = ismrmrd.Dataset(str(tmp), "dataset", mode="w")  # the temporary file exists, empty
        dset.write_xml_header(xml)
        dset.close()
        acqs = list(_noise_acquisitions(first, protocol, samples, dwell_us, noise_t0))
        count = noise_count = len(acqs)
        kept = []
        for k in range(slices):
            current = first if k == 0 else next(sims)
            imaging = list(_imaging_acquisitions(current, order, acs, calibration_only, first_line, dwell_us,
                                                 count + 1, t0_ms + k * slice_ms, k, positions[k], k == slices - 1))
            count += len(imaging)
            if only_slice is None or only_slice == k:
                acqs += imaging
                if only_slice is not None:  # the slice written alone still ends the measurement
                    acqs[-1].set_flag(ismrmrd.ACQ_LAST_IN_MEASUREMENT)
                _write_acquisitions(tmp, acqs)
                acqs = []
            kept.append(_reference_only(current))
        ny, nx = first.image_shape
        attrs = {
            "seed": int(first.seed), "snr": float(first.snr), "noise_std": float(first.noise_std),
            "matrix": np.array([ny, nx], dtype=np.int64), "frames": int(first.frames), "coils": int(first.coils),
            "trajectory": first.trajectory, "readout_oversampling": int(first.readout_oversampling),
            "heartbeats": int(beats), "snr_definition": "mean |truth| over heart_mask / noise_std (complex std "
            "per k-space sample and per image pixel, orthonormal FFT)",
        }
        if slices > 1:  # a stack: per-slice values beside slice 0's (seed, snr above)
            attrs.update(slices=int(slices), slice_seeds=np.array([s.seed for s in kept], dtype=np.int64),
                         slice_snr=np.array([s.snr for s in kept], dtype=np.float64),
                         slice_positions_mm=np.array(positions, dtype=np.float64))
            if only_slice is not None:
                attrs.update(only_slice=int(only_slice))
        if radial:
            attrs.update(spokes=int(spokes), trajectory_units=TRAJECTORY_UNITS, golden_angle_deg=GOLDEN_ANGLE_DEG)
        else:
            attrs.update(pattern=str(pattern), acceleration=float(acceleration),
                         acs_lines=np.asarray(sorted(acs_lines), dtype=np.int64))
        if first.realism is not None:
            attrs.update(_realism_attrs(first, first_line, calibration_only))
        _write_reference(tmp, kept, None if radial else sampled, attrs, calibration_only)
    log.info("wrote %s: %d noise + %d imaging readouts over %d heartbeats%s", path, noise_count, count - noise_count,
             beats, f" per slice, {slices} slices" if slices > 1 else "")
    return path


def _reference_only(sim: SimulatedCine) -> SimulatedCine:
    """The parts of a slice ``/reference`` keeps (the truth, maps, heart mask), without its k-space:
    a stack holds one slice's k-space at a time."""
    return replace(sim, kspace=sim.kspace[:0], trajectory_k=None, noise=sim.noise[:, :0])
