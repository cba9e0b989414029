"""CineBuffer: sort readouts of a cine scan into per-slice k-space and emit a ``CineSlice``.

Frames: numbered by ``idx.phase`` (cardiac phase). When the header has a single phase but several
repetitions (e.g. ``ismrmrd_generate_cartesian_shepp_logan -r N``, or real-time cine), the
repetitions are the frames. Frames are the frame indices actually seen, in order.

Cartesian: the line ``kspace_encode_step_1`` goes to row ``line - center + ny//2`` (``center`` from
``encodingLimits.kspace_encoding_step_1``, ``ny`` from ``encodedSpace``), so the k-space centre
lands at ``ny//2`` as ``inr_core.fft`` expects, whatever the limits are (partial Fourier and
reduced phase resolution give limits that are not symmetric about the centre); the readout is
placed so that ``center_sample`` lands at ``nx//2`` (after ``discard_pre``/``discard_post``).

Calibration and imaging lines, by the flags and ``parallelImaging.calibrationMode``:
- ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING -> data and calibration;
- ACQ_IS_PARALLEL_CALIBRATION (calibration-only) of an *embedded* calibration -> calibration and,
  by default, also data at its own frame (``idx.phase``): scanners measure these lines inside the
  cine, in a known frame, and leave them out only because they are off the undersampling lattice
  (Siemens flags every GRAPPA ACS block this way). Without them most frames lack the DC line:
  on the realistic simulation L+S lost 13 dB at kt R8 and zero-filled 11 dB (``docs/raw-data.md``).
  Property ``calibration_as_data`` (default true) turns this off;
- calibration-only lines of a ``separate``/``interleaved``/other reference scan, or of a header
  without ``parallelImaging``, stay calibration only (a reference scan may have another contrast);
- the calibration (``CartesianCine.calibration``, averaged over time per line) pools every
  calibration line with, for an embedded calibration (or a header that names none), every imaging
  line of the slice: the time-averaged k-space the coil maps are estimated from (``inr_core.coils``);
- ACQ_IS_REVERSE -> the readout is flipped;
- repeated lines (``idx.average`` or re-acquisitions) are averaged; so are repetitions when the
  frames are cardiac phases (a repeated cine is averaged into one, not reconstructed per repetition);
- dummy scans, navigators, phase-correction and other non-imaging readouts are skipped.

Radial (header trajectory ``radial`` or ``goldenangle``): each readout is a spoke with its
trajectory ``traj[:, :2]`` = (kx, ky); spokes are ordered by (``kspace_encode_step_1``, ``segment``).
Accepted trajectory scales, detected from the largest |k|:
- normalised to [-0.5, 0.5] (max |k| <= 0.5): multiplied by the recon matrix size;
- cycles per recon FOV, [-n/2, n/2] (max |k| up to about n/2): used as is.
Anything larger is refused (it would be a different FOV convention). Frames must have the same
number of spokes; if they differ, every frame is cut to the smallest count (logged).

Noise readouts forwarded by NoisePrewhitening (marked ``gadgets.noise.WHITENED_MARK``) are not data;
they give the whitener W the data went through (``inr_core.noise.prewhitener_from_readouts``, the
function NoisePrewhitening used), attached as ``CineSlice.whitener`` so CoilMaps can put the images
back on the object's scale.

``encodedSpace.z`` must be 1 (2D); 3D encodings are refused.

A slice is emitted on ACQ_LAST_IN_SLICE (when frames are repetitions: only on the last repetition
the header announces), on ACQ_LAST_IN_MEASUREMENT, and at the end of the stream, so a partially
filled slice is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import ismrmrd
import numpy as np
import torch

from gadgets.base import Gadget, GadgetError, NodeConfig
from gadgets.items import CineSlice
from gadgets.noise import UNIT_VARIANCE_MARK, WHITENED_MARK
from inr_core.data import CartesianCine, RadialCine
from inr_core.noise import prewhitener_from_readouts

log = logging.getLogger(__name__)

SKIPPED = {
    ismrmrd.ACQ_IS_NOISE_MEASUREMENT: "noise",
    ismrmrd.ACQ_IS_DUMMYSCAN_DATA: "dummy scan",
    ismrmrd.ACQ_IS_NAVIGATION_DATA: "navigator",
    ismrmrd.ACQ_IS_PHASECORR_DATA: "phase correction",
    ismrmrd.ACQ_IS_HPFEEDBACK_DATA: "feedback",
    ismrmrd.ACQ_IS_RTFEEDBACK_DATA: "feedback",
    ismrmrd.ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA: "surface coil correction",
    ismrmrd.ACQ_IS_PHASE_STABILIZATION_REFERENCE: "phase stabilisation",
    ismrmrd.ACQ_IS_PHASE_STABILIZATION: "phase stabilisation",
}
RADIAL = ("radial", "goldenangle")


def _limit(limits, name):
    value = getattr(limits, name, None) if limits is not None else None
    return value


def header_trajectory(header) -> str:
    traj = header.encoding[0].trajectory
    return str(getattr(traj, "value", traj)).lower()


def calibration_mode(header) -> str | None:
    """``embedded``, ``interleaved``, ``separate``, ... from ``parallelImaging``; None when absent."""
    parallel = getattr(header.encoding[0], "parallelImaging", None)
    mode = getattr(parallel, "calibrationMode", None) if parallel is not None else None
    return None if mode is None else str(getattr(mode, "value", mode)).lower()


def frame_dimension(header) -> str:
    """``phase`` unless the header announces one phase and several repetitions."""
    limits = header.encoding[0].encodingLimits
    phase, rep = _limit(limits, "phase"), _limit(limits, "repetition")
    if (phase is None or phase.maximum == 0) and rep is not None and rep.maximum > 0:
        return "repetition"
    return "phase"


MAX_MATRIX = 4096  # per axis of a 2D cine matrix; larger header sizes are refused before anything is allocated
MEMORY_LIMIT_GIB = 32.0  # refuse a header whose arrays alone would need more than this


def _axis(space, name: str, axis: str) -> int:
    """A header matrix size as a positive integer; a clear ``GadgetError`` otherwise."""
    matrix = getattr(space, "matrixSize", None) if space is not None else None
    value = getattr(matrix, axis, None) if matrix is not None else None
    if value is None:
        raise GadgetError(f"the ISMRMRD header has no {name}.matrixSize.{axis}")
    try:
        number = int(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError):
        raise GadgetError(f"the ISMRMRD header's {name}.matrixSize.{axis} is {value!r}, not an integer") from None
    if axis == "z":
        number = number or 1
    if not 1 <= number <= MAX_MATRIX:
        raise GadgetError(f"the ISMRMRD header's {name}.matrixSize.{axis} is {number}: "
                          f"a matrix size must be 1..{MAX_MATRIX}")
    return number


def header_sizes(header) -> dict[str, tuple[int, int, int]]:
    """``{"encoded": (x, y, z), "recon": (x, y, z)}``, each a checked positive integer (``GadgetError``)."""
    encodings = getattr(header, "encoding", None) or []
    if not encodings:
        raise GadgetError("the ISMRMRD header has no <encoding>")
    enc = encodings[0]
    return {key: tuple(_axis(getattr(enc, name, None), name, a) for a in ("x", "y", "z"))
            for key, name in (("encoded", "encodedSpace"), ("recon", "reconSpace"))}


def memory_estimate(header, coils: int, frames: int, samples: int | None = None, slices: int = 1) -> float:
    """Bytes the k-space and image arrays of one slice need (several working copies), from the header."""
    sizes = header_sizes(header)
    ex, ey, _ = sizes["encoded"]
    rx, ry, _ = sizes["recon"]
    nx = max(ex, samples or 0)
    per_copy = 8.0 * max(1, coils) * max(1, frames) * (ey * nx + ry * rx)
    return 4 * per_copy  # the sorted k-space, the coil images, the method's working copies


def check_header(header, coils: int | None = None, frames: int | None = None, samples: int | None = None) -> None:
    """Sizes that parse and are bounded, and a memory estimate under ``MEMORY_LIMIT_GIB``: before any allocation.

    ``coils``/``frames``/``samples`` come from the data where the host knows them (``open_raw``), else
    from the header (``receiverChannels``, the frame limit).
    """
    header_sizes(header)
    if coils is None:
        system = getattr(header, "acquisitionSystemInformation", None)
        coils = int(getattr(system, "receiverChannels", None) or 1) if system is not None else 1
    if frames is None:
        limit = _limit(header.encoding[0].encodingLimits, frame_dimension(header))
        frames = int(limit.maximum) + 1 if limit is not None and limit.maximum is not None else 1
    need = memory_estimate(header, coils, frames, samples)
    if need > MEMORY_LIMIT_GIB * 1024**3:
        raise GadgetError(f"the ISMRMRD header's matrix sizes need about {need / 1024**3:.0f} GiB for {frames} frames "
                          f"of {coils} coils (more than the {MEMORY_LIMIT_GIB:g} GiB allowed): refused before reading")


class _Accumulator:
    """Sums and counts per key, so repeated readouts are averaged."""

    def __init__(self):
        self.sums: dict = {}
        self.counts: dict = {}

    def add(self, key, data):
        if key in self.sums:
            self.sums[key] = self.sums[key] + data
            self.counts[key] += 1
        else:
            self.sums[key] = data.astype(np.complex64)
            self.counts[key] = 1

    def mean(self, key):
        return self.sums[key] / self.counts[key]


class _SliceBuffer:
    def __init__(self):
        self.data = _Accumulator()  # cartesian (frame, row); radial (frame, spoke key, n)
        self.calibration = _Accumulator()  # row
        self.trajectories: dict = {}  # radial: (frame, spoke key, n) -> (N, 2)
        self.reference: dict = {}  # frame -> (distance from the k-space centre, AcquisitionHeader)
        self.coils: int | None = None
        self.samples: int | None = None
        self.length: int | None = None  # samples per readout after discarding and centring
        self.calibration_only_lines = 0  # calibration readouts kept out of the data

    def note_reference(self, frame, distance, head):
        if frame not in self.reference or distance < self.reference[frame][0]:
            self.reference[frame] = (distance, head)


class CineBuffer(Gadget):
    @dataclass
    class Config(NodeConfig):
        calibration_as_data: bool = True  # an embedded calibration's calibration-only lines are data too

    def configure(self) -> None:
        check_header(self.header)
        enc = self.header.encoding[0]
        self.trajectory = header_trajectory(self.header)
        if self.trajectory != "cartesian" and self.trajectory not in RADIAL:
            raise GadgetError(f"unsupported trajectory {self.trajectory!r} (supported: cartesian, radial, goldenangle)")
        self.frame_dim = frame_dimension(self.header)
        limits = enc.encodingLimits
        frame_limit = _limit(limits, self.frame_dim)
        self.last_frame = frame_limit.maximum if frame_limit is not None else None
        if int(getattr(enc.encodedSpace.matrixSize, "z", 1) or 1) > 1:
            raise GadgetError(f"encodedSpace.matrixSize.z is {enc.encodedSpace.matrixSize.z}: "
                              "3D encodings are not supported (2D cine only)")
        self.ny = int(enc.encodedSpace.matrixSize.y)
        self.calibration_mode = calibration_mode(self.header)
        self.embedded = self.calibration_mode == "embedded"
        # Imaging lines measure the same coils at the same time as an embedded calibration; a separate
        # reference scan may have another contrast, so its k-space is not mixed with the cine's.
        self.pool_imaging = self.calibration_mode in (None, "embedded")
        self.calibration_as_data = self.config.calibration_as_data
        e1 = _limit(limits, "kspace_encoding_step_1")
        self.center_line = int(e1.center) if e1 is not None else self.ny // 2
        # Radial spokes are indexed, not placed around a centre line, so only Cartesian needs this.
        if self.trajectory == "cartesian" and e1 is not None and e1.center == 0 and e1.maximum > 0:
            # Some producers leave the centre at 0; a k-space centre on the first line is not a real scan.
            self.center_line = (int(e1.minimum) + int(e1.maximum) + 1) // 2
            log.warning("encoding limits give k-space centre line 0: using the middle line %d", self.center_line)
        self.recon_shape = (int(enc.reconSpace.matrixSize.y), int(enc.reconSpace.matrixSize.x))
        self.slices: dict[int, _SliceBuffer] = {}
        self.skipped: dict[str, int] = {}
        self.whitened_by: list[np.ndarray] = []  # marked noise readouts (see gadgets.noise)
        self.noise_dwell = self.imaging_dwell = None
        self.whitener_cache = None
        self.unit_variance = False  # the marked noise readouts say W was made with preserve_scale=false
        self.index_limits = {name: (int(lim.minimum or 0), int(lim.maximum))
                             for name in ("slice", "phase", "repetition")
                             if (lim := _limit(limits, name)) is not None and lim.maximum is not None}
        self.phases_in_repetitions = 0  # readouts with a phase index when the frames are repetitions
        self.emitted: set[int] = set()
        if self.frame_dim == "repetition":
            log.info("one cardiac phase and several repetitions in the header: repetitions are the frames")

    # -- intake ---------------------------------------------------------------------------------
    def process(self, item):
        if not isinstance(item, ismrmrd.Acquisition):
            return (item,)
        if item.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) and item.is_flag_set(WHITENED_MARK):
            self.whitened_by.append(np.asarray(item.data, np.complex64))
            self.noise_dwell = float(item.sample_time_us)
            self.unit_variance = item.is_flag_set(UNIT_VARIANCE_MARK)
            # The W NoisePrewhitening applied, when it ran in this process: not computed a second time.
            self.whitener_cache = getattr(item, "whitener", None)
            return ()
        for flag, why in SKIPPED.items():
            if item.is_flag_set(flag):
                self.skipped[why] = self.skipped.get(why, 0) + 1
                return ()
        self._check_indices(item)
        slice_index = int(item.idx.slice)
        if slice_index in self.emitted and slice_index not in self.slices:
            raise GadgetError(f"readout scan_counter {item.scan_counter} arrives for slice {slice_index} after that "
                              "slice's last readout (ACQ_LAST_IN_SLICE): readouts out of order or duplicated")
        self.imaging_dwell = self.imaging_dwell or float(item.sample_time_us)
        buffer = self.slices.setdefault(slice_index, _SliceBuffer())
        self._check_shape(buffer, item)
        data = self._readout(item)
        if buffer.length is None:
            buffer.length = data.shape[1]
        elif data.shape[1] != buffer.length:
            raise GadgetError(f"readout scan_counter {item.scan_counter} gives {data.shape[1]} samples after "
                              f"discard_pre {item.discard_pre}, discard_post {item.discard_post} and centring on "
                              f"center_sample {item.center_sample}; earlier readouts {buffer.length}")
        frame = int(getattr(item.idx, self.frame_dim))
        if self.trajectory == "cartesian":
            self._add_cartesian(buffer, item, frame, data)
        else:
            self._add_radial(buffer, item, frame, data)

        if item.is_flag_set(ismrmrd.ACQ_LAST_IN_MEASUREMENT):
            return self.flush()
        if item.is_flag_set(ismrmrd.ACQ_LAST_IN_SLICE) and (
                self.frame_dim == "phase" or self.last_frame is None or frame >= self.last_frame):
            return (self._emit(slice_index),)
        return ()

    def _check_shape(self, buffer: _SliceBuffer, item) -> None:
        if buffer.coils is None:
            buffer.coils, buffer.samples = item.active_channels, item.number_of_samples
        elif item.active_channels != buffer.coils:
            raise GadgetError(f"coil-count mismatch: readout scan_counter {item.scan_counter} has "
                              f"{item.active_channels} channels, earlier readouts {buffer.coils}")
        elif item.number_of_samples != buffer.samples:
            raise GadgetError(f"readout scan_counter {item.scan_counter} has {item.number_of_samples} samples, "
                              f"earlier readouts {buffer.samples}: mixed readout lengths are not supported")

    def _check_indices(self, item) -> None:
        """Indices inside the header's encoding limits (slice, phase, repetition) and a readout to keep.

        Decision (``docs/robustness.md``): an index outside a limit the header declares is an error
        naming the readout -- such a file contradicts itself and its sorting cannot be trusted. When
        the frames are repetitions (one phase declared), phase indices are averaged with a warning.
        """
        n = int(item.number_of_samples)
        if int(item.discard_pre) + int(item.discard_post) >= n:
            raise GadgetError(f"readout scan_counter {item.scan_counter}: discard_pre {item.discard_pre} + "
                              f"discard_post {item.discard_post} leave nothing of its {n} samples")
        if int(item.center_sample) >= n:
            raise GadgetError(f"readout scan_counter {item.scan_counter}: center_sample {item.center_sample} lies "
                              f"beyond its {n} samples")
        for name, (low, high) in self.index_limits.items():
            value = int(getattr(item.idx, name))
            if low <= value <= high:
                continue
            if name == "phase" and self.frame_dim == "repetition":
                self.phases_in_repetitions += 1
                if self.phases_in_repetitions == 1:
                    log.warning("the header declares one cardiac phase and several repetitions, but readout "
                                "scan_counter %d has phase %d: the frames are repetitions, and the readouts of "
                                "different cardiac phases are averaged together", item.scan_counter, value)
                continue
            raise GadgetError(f"readout scan_counter {item.scan_counter}: {name} {value} lies outside the header's "
                              f"encoding limits {low}..{high}")

    def _readout(self, item) -> np.ndarray:
        """(C, nx) with discarded samples dropped, reversed readouts flipped, the echo centred."""
        data = np.asarray(item.data, dtype=np.complex64)
        if not np.isfinite(data).all():  # every host, Gadgetron included: one NaN spoils every frame's image
            raise GadgetError(f"readout scan_counter {item.scan_counter} contains NaN or Inf values")
        n = data.shape[1]
        data = data[:, item.discard_pre:n - item.discard_post]
        if item.is_flag_set(ismrmrd.ACQ_IS_REVERSE):
            data = data[:, ::-1]
        if self.trajectory != "cartesian":
            return np.ascontiguousarray(data)
        centre = int(item.center_sample) - int(item.discard_pre)
        n = data.shape[1]
        if centre <= 0 or centre == n // 2:  # 0: producer left it unset; assume a centred echo
            return np.ascontiguousarray(data)
        # Asymmetric echo: zero-pad so that the echo centre sits at nx//2.
        nx = 2 * max(centre, n - centre)
        padded = np.zeros((data.shape[0], nx), np.complex64)
        start = nx // 2 - centre
        padded[:, start:start + n] = data
        return padded

    def _add_cartesian(self, buffer, item, frame, data):
        row = int(item.idx.kspace_encode_step_1) - self.center_line + self.ny // 2
        if not 0 <= row < self.ny:
            raise GadgetError(f"readout scan_counter {item.scan_counter}: line {item.idx.kspace_encode_step_1} "
                              f"falls outside the {self.ny} encoded lines (centre {self.center_line})")
        calibration_only = item.is_flag_set(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION)
        if calibration_only or item.is_flag_set(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING) or self.pool_imaging:
            buffer.calibration.add(row, data)
        if calibration_only and not (self.embedded and self.calibration_as_data):
            buffer.calibration_only_lines += 1
            return
        buffer.data.add((frame, row), data)
        buffer.note_reference(frame, abs(row - self.ny // 2), item.getHead())

    def _add_radial(self, buffer, item, frame, data):
        if item.trajectory_dimensions < 2:
            raise GadgetError(f"radial readout scan_counter {item.scan_counter} carries no trajectory")
        traj = np.array(item.traj[:, :2], dtype=np.float32)
        traj = traj[item.discard_pre:traj.shape[0] - item.discard_post]
        if item.is_flag_set(ismrmrd.ACQ_IS_REVERSE):
            traj = traj[::-1]
        spoke = (int(item.idx.kspace_encode_step_1), int(item.idx.segment))
        # Same spoke index and same trajectory: a repeat to average; a different trajectory: a new spoke.
        n = 0
        while (frame, spoke, n) in buffer.trajectories and not np.allclose(buffer.trajectories[frame, spoke, n], traj):
            n += 1
        buffer.trajectories[frame, spoke, n] = traj
        buffer.data.add((frame, spoke, n), data)
        buffer.note_reference(frame, spoke[0] + spoke[1], item.getHead())

    # -- output ---------------------------------------------------------------------------------
    def flush(self):
        if self.skipped:
            log.info("skipped non-imaging readouts: %s", ", ".join(f"{v} {k}" for k, v in self.skipped.items()))
            self.skipped = {}
        return [self._emit(s) for s in sorted(self.slices)]

    def _emit(self, slice_index: int) -> CineSlice:
        buffer = self.slices.pop(slice_index)
        self.emitted.add(slice_index)
        frames = sorted(buffer.reference)
        if not frames:
            raise GadgetError(f"slice {slice_index} has no imaging readouts")
        if frames != list(range(frames[0], frames[0] + len(frames))):
            log.warning("slice %d: frames %s are missing", slice_index,
                        sorted(set(range(frames[0], frames[-1] + 1)) - set(frames)))
        data = (self._cartesian(buffer, frames) if self.trajectory == "cartesian"
                else self._radial(buffer, frames, slice_index))
        log.info("slice %d: %d frames, %d coils, %s", slice_index, len(frames), data.coils, self.trajectory)
        if buffer.calibration_only_lines:
            log.info("slice %d: %d calibration-only readouts used for the coil maps only (calibration mode %s%s)",
                     slice_index, buffer.calibration_only_lines, self.calibration_mode or "not given",
                     ", calibration_as_data=false" if self.embedded else "")
        return CineSlice(data=data, slice=slice_index, frame_headers=[buffer.reference[f][1] for f in frames],
                         header=self.header, frame_dimension=self.frame_dim, whitener=self.whitener())

    def whitener(self) -> np.ndarray | None:
        """The W of the noise readouts seen so far (None without any); computed once."""
        if not self.whitened_by:
            return None
        if self.whitener_cache is None:
            try:
                self.whitener_cache = prewhitener_from_readouts(self.whitened_by, self.noise_dwell, self.imaging_dwell,
                                                                preserve_scale=not self.unit_variance)
            except ValueError as exc:
                raise GadgetError(f"cannot prewhiten from the noise readouts: {exc}") from None
        return self.whitener_cache

    def _cartesian(self, buffer: _SliceBuffer, frames: list[int]) -> CartesianCine:
        nx = next(iter(buffer.data.sums.values())).shape[1]
        index = {f: i for i, f in enumerate(frames)}
        kspace = np.zeros((len(frames), buffer.coils, self.ny, nx), np.complex64)
        mask = np.zeros((len(frames), self.ny), bool)
        for (frame, row) in buffer.data.sums:
            kspace[index[frame], :, row] = buffer.data.mean((frame, row))
            mask[index[frame], row] = True
        block = self.calibration_block(buffer)
        calibration, calibration_mask = block if block is not None else (None, None)
        return CartesianCine(torch.from_numpy(kspace), torch.from_numpy(mask), calibration, calibration_mask)

    def calibration_block(self, buffer: _SliceBuffer, rows: Iterable[int] | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A slice's calibration lines so far, each averaged over its readouts: ``(C, ny, nx)`` and the
        ``(ny,)`` mask of the rows present (only ``rows`` when given); None before any is in."""
        accumulator = buffer.calibration
        present = [r for r in (accumulator.sums if rows is None else rows) if r in accumulator.sums]
        if not present:
            return None
        coils, nx = accumulator.sums[present[0]].shape
        calibration = np.zeros((coils, self.ny, nx), np.complex64)
        calibration_mask = np.zeros(self.ny, bool)
        for row in present:
            calibration[:, row] = accumulator.mean(row)
            calibration_mask[row] = True
        return torch.from_numpy(calibration), torch.from_numpy(calibration_mask)

    def _radial(self, buffer: _SliceBuffer, frames: list[int], slice_index: int) -> RadialCine:
        per_frame = {f: sorted(k for k in buffer.data.sums if k[0] == f) for f in frames}
        counts = {f: len(keys) for f, keys in per_frame.items()}
        spokes = min(counts.values())
        if len(set(counts.values())) > 1:
            log.warning("slice %d: frames have %s spokes; using the first %d of each",
                        slice_index, sorted(set(counts.values())), spokes)
        kspace = np.stack([np.stack([buffer.data.mean(k) for k in per_frame[f][:spokes]], axis=1) for f in frames])
        traj = np.stack([np.stack([buffer.trajectories[k] for k in per_frame[f][:spokes]]) for f in frames])
        traj = self._to_cycles_per_fov(traj)
        return RadialCine(torch.from_numpy(np.ascontiguousarray(kspace)), torch.from_numpy(traj),
                          self.recon_shape)

    def _to_cycles_per_fov(self, traj: np.ndarray) -> np.ndarray:
        kmax = float(np.abs(traj).max()) if traj.size else 0.0
        ny, nx = self.recon_shape
        if kmax == 0.0:
            raise GadgetError("radial trajectory is all zeros: the readouts carry no k-space coordinates")
        if kmax <= 0.5 + 1e-3:
            log.info("radial trajectory normalised to +-0.5: scaled by the matrix size %dx%d", ny, nx)
            return (traj * np.array([nx, ny], np.float32)).astype(np.float32)
        # One sample of slack: a spoke of n samples spans [-n/2, n/2 - 1] or [-n/2, n/2].
        if kmax <= max(nx, ny) / 2 + 1.0:
            return traj.astype(np.float32)
        raise GadgetError(f"radial trajectory reaches |k| = {kmax:.4g}, more than the {max(nx, ny) / 2:g} cycles/FOV "
                          f"of a {ny}x{nx} image: unsupported trajectory scale (use cycles/FOV or +-0.5)")
