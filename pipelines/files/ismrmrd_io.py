"""Reading ISMRMRD raw files (read-only, validated) and writing ISMRMRD image files.

Raw input is opened with h5py in mode ``"r"``: ``ismrmrd.Dataset`` opens read-write even with
``create_if_needed=False`` in 1.15, and a replay must never modify its input. Everything a user can
get wrong is checked before any reconstruction starts and reported as a ``UserError`` naming the
file and, where it applies, the acquisition index.

Output images are written like ``gadgetron_ismrmrd_client`` does: ``/<group>/image_<series>/``
with ``header``, ``attributes`` and ``data``, plus the ISMRMRD header at ``/<group>/xml``. The file
is written under a temporary name and renamed only when complete.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import ismrmrd
import numpy as np

from pipelines.errors import UserError
from pipelines.files.outputs import atomic_output

SUPPORTED_TRAJECTORIES = ("cartesian", "radial", "goldenangle")
NON_IMAGING = (ismrmrd.ACQ_IS_NOISE_MEASUREMENT, ismrmrd.ACQ_IS_DUMMYSCAN_DATA, ismrmrd.ACQ_IS_NAVIGATION_DATA,
               ismrmrd.ACQ_IS_PHASECORR_DATA, ismrmrd.ACQ_IS_PARALLEL_CALIBRATION)
CHUNK = 256  # acquisitions read per HDF5 access


def _flag_mask(flags) -> int:
    return sum(1 << (f - 1) for f in flags)


def _open_h5(path: Path, what: str) -> h5py.File:
    if not path.is_file():
        raise UserError(f"{what} {str(path)!r} does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise UserError(f"{what} {str(path)!r} is not a readable HDF5 file (truncated or corrupt?): "
                        f"{' '.join(str(exc).split())}") from None


_SHARED: dict[Path, list] = {}  # resolved path -> [open h5py.File, number of users]
_SHARED_LOCK = threading.Lock()


@contextlib.contextmanager
def read_h5(path: str | os.PathLike, what: str) -> Iterator[h5py.File]:
    """A read-only handle that every reader of ``path`` in this process shares; the last one closes it.

    HDF5 caches the datatype of a dataset once per file, not per handle, and an ISMRMRD ``data``
    dataset is a compound with variable-length members. When one of two handles open on the same file
    closes, a read through the other dereferences the closed handle's file and crashes the process
    (h5py issue #2920; here: three emulator clients streaming one file, and the
    acquisitions/waveforms readers of one client). With one shared handle there is no second one.
    """
    path = Path(path)
    key = path.resolve()
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is None:
            entry = _SHARED[key] = [_open_h5(path, what), 0]
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _SHARED_LOCK:
            entry[1] -= 1
            if entry[1] == 0:
                del _SHARED[key]
                entry[0].close()


@dataclass
class RawFile:
    """A validated raw file: header, trajectory, and a fresh acquisition iterator per call."""

    path: Path
    group: str
    header: object  # ismrmrd.xsd.ismrmrdHeader
    header_xml: bytes
    count: int
    kept: list | None = field(default=None, repr=False)  # decoded by check_data(keep=True), handed over once

    @property
    def trajectory(self) -> str:
        traj = self.header.encoding[0].trajectory
        return str(getattr(traj, "value", traj)).lower()

    def acquisitions(self) -> Iterator[ismrmrd.Acquisition]:
        if self.kept is not None:  # decoded once already: the first reader takes them (and may change them)
            kept, self.kept = self.kept, None
            yield from kept
            return
        with read_h5(self.path, "raw file") as f:
            data = f[self.group]["data"]
            for start in range(0, self.count, CHUNK):
                rows = _read_rows(data, start, min(start + CHUNK, self.count), self.path)
                for offset, row in enumerate(rows):
                    yield _acquisition(row, start + offset, self.path)

    def check_data(self, keep: bool = False) -> None:
        """Decode every readout once, checked (NaN/Inf, sizes, truncation: ``UserError``); ``keep``: hold
        them for the next :meth:`acquisitions` call, so a replay decodes the file once."""
        if keep:
            self.kept = list(self.acquisitions())
            return
        for _ in self.acquisitions():
            pass


def _read_rows(data, start: int, stop: int, path: Path):
    try:
        return data[start:stop]
    except (OSError, ValueError) as exc:
        raise UserError(f"{str(path)!r}: cannot read acquisitions {start}..{stop - 1} (truncated or corrupt file?): "
                        f"{' '.join(str(exc).split())}") from None


def _acquisition(row, index: int, path: Path) -> ismrmrd.Acquisition:
    acq = ismrmrd.Acquisition(row["head"])
    samples, channels, dims = acq.number_of_samples, acq.active_channels, acq.trajectory_dimensions
    values = np.asarray(row["data"], dtype=np.float32)
    if values.size != 2 * samples * channels:
        raise UserError(f"{str(path)!r}: acquisition {index} holds {values.size // 2} samples, its header says "
                        f"{channels} channels x {samples} samples (corrupt file?)")
    if not np.isfinite(values).all():
        raise UserError(f"{str(path)!r}: acquisition {index} contains NaN or Inf values")
    acq.data[:] = values.view(np.complex64).reshape(channels, samples)
    if dims:
        traj = np.asarray(row["traj"], dtype=np.float32)
        if traj.size != samples * dims or not np.isfinite(traj).all():
            raise UserError(f"{str(path)!r}: acquisition {index} has a missing or non-finite trajectory")
        acq.traj[:] = traj.reshape(samples, dims)
    return acq


def _find_group(f: h5py.File, path: Path) -> str:
    if "dataset" in f and "xml" in f["dataset"]:
        return "dataset"
    for name, item in f.items():
        if isinstance(item, h5py.Group) and "xml" in item:
            return name
    raise UserError(f"{str(path)!r} is not an ISMRMRD raw file (no /dataset/xml header)")


def open_raw(path: str | os.PathLike, check_data: bool = True) -> RawFile:
    """Open and validate a raw file; all problems a user can fix raise ``UserError``.

    ``check_data=False`` stops after the header and the acquisition headers; the caller then runs
    :meth:`RawFile.check_data` before any reconstruction (after checking its settings, say)."""
    path = Path(path)
    with read_h5(path, "raw file") as f:
        group = _find_group(f, path)
        try:
            header_xml = bytes(f[group]["xml"][0])
            header = ismrmrd.xsd.CreateFromDocument(header_xml)
            encoding = header.encoding[0]
        except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
            raise UserError(f"{str(path)!r}: the ISMRMRD header does not parse: {' '.join(str(exc).split())}") from None
        raw = RawFile(path, group, header, header_xml, 0)
        if raw.trajectory not in SUPPORTED_TRAJECTORIES:
            raise UserError(f"{str(path)!r}: unsupported trajectory {raw.trajectory!r} "
                            f"(supported: {', '.join(SUPPORTED_TRAJECTORIES)})")
        if "data" not in f[group] or f[group]["data"].shape[0] == 0:
            raise UserError(f"{str(path)!r} has no acquisitions")
        data = f[group]["data"]
        raw.count = int(data.shape[0])
        try:
            heads = data["head"]
        except (OSError, ValueError) as exc:
            raise UserError(f"{str(path)!r}: cannot read the acquisition headers (truncated or corrupt file?): "
                            f"{' '.join(str(exc).split())}") from None
        _check_heads(heads, header, encoding, path)
        _check_sizes(heads, header, path)
        _check_order(heads, header, path)
    if check_data:  # the data themselves (NaN/Inf, sizes, truncation), before any reconstruction runs
        raw.check_data()
    return raw


def _check_heads(heads, header, encoding, path: Path) -> None:
    flags = heads["flags"].astype(np.uint64)
    imaging = (flags & np.uint64(_flag_mask(NON_IMAGING))) == 0
    if not imaging.any():
        raise UserError(f"{str(path)!r} has no imaging data (only noise, calibration or non-imaging readouts)")
    channels = heads["active_channels"]
    first = int(channels[0])
    differs = np.flatnonzero(channels != first)
    if differs.size:
        i = int(differs[0])
        raise UserError(f"{str(path)!r}: coil-count mismatch: acquisition {i} has {int(channels[i])} channels, "
                        f"acquisition 0 has {first}")
    system = header.acquisitionSystemInformation
    declared = getattr(system, "receiverChannels", None) if system is not None else None
    if declared is not None and int(declared) != first:
        raise UserError(f"{str(path)!r}: coil-count mismatch: the header declares {int(declared)} receiver channels, "
                        f"the acquisitions have {first}")
    if encoding.trajectory is not None and str(getattr(encoding.trajectory, "value", "")).lower() != "cartesian":
        dims = heads["trajectory_dimensions"][imaging]
        if (dims < 2).any():
            i = int(np.flatnonzero(imaging)[np.flatnonzero(dims < 2)[0]])
            raise UserError(f"{str(path)!r}: acquisition {i} of a non-Cartesian scan carries no trajectory")


def _imaging_rows(heads) -> np.ndarray:
    flags = heads["flags"].astype(np.uint64)
    return np.flatnonzero((flags & np.uint64(_flag_mask(NON_IMAGING))) == 0)


def _check_sizes(heads, header, path: Path) -> None:
    """Header matrix sizes that parse and are bounded, and the memory they need, before anything is allocated."""
    from gadgets.base import GadgetError
    from gadgets.cine_buffer import check_header, frame_dimension

    imaging = _imaging_rows(heads)
    try:
        frames = int(np.unique(heads["idx"][frame_dimension(header)][imaging]).size)
        check_header(header, coils=int(heads["active_channels"][0]), frames=frames,
                     samples=int(heads["number_of_samples"][imaging].max()))
    except GadgetError as exc:
        raise UserError(f"{str(path)!r}: {exc}") from None


def _check_order(heads, header, path: Path) -> None:
    """No imaging readout after the end of the measurement or after its slice's last readout.

    CineBuffer reconstructs a slice at its ACQ_LAST_IN_SLICE readout (``gadgets.cine_buffer``), so a
    reordered or duplicated file would otherwise reconstruct a fragment and fail on it with a
    misleading message (a calibration region of 0 lines).
    """
    from gadgets.cine_buffer import _limit, frame_dimension

    flags = heads["flags"].astype(np.uint64)
    last_slice = np.uint64(_flag_mask([ismrmrd.ACQ_LAST_IN_SLICE]))
    last_measurement = np.uint64(_flag_mask([ismrmrd.ACQ_LAST_IN_MEASUREMENT]))
    dim = frame_dimension(header)
    limit = _limit(header.encoding[0].encodingLimits, dim)
    last_frame = int(limit.maximum) if limit is not None and limit.maximum is not None else None
    closed: dict[int, int] = {}  # slice -> acquisition that ended it
    ended = None
    for i in _imaging_rows(heads):
        head = heads[i]
        slice_index = int(head["idx"]["slice"])
        where = f"acquisition {int(i)} (scan_counter {int(head['scan_counter'])})"
        if ended is not None:
            raise UserError(f"{str(path)!r}: {where} comes after the last acquisition of the measurement "
                            f"(acquisition {ended}): readouts out of order or duplicated")
        if slice_index in closed:
            raise UserError(f"{str(path)!r}: {where} of slice {slice_index} comes after that slice's last readout "
                            f"(acquisition {closed[slice_index]}): readouts out of order or duplicated")
        if flags[i] & last_measurement:
            ended = int(i)
        elif flags[i] & last_slice:
            frame = int(head["idx"][dim])
            if dim == "phase" or last_frame is None or frame >= last_frame:
                closed[slice_index] = int(i)


# -- images -------------------------------------------------------------------------------------
def write_images(path: str | os.PathLike, images: Iterable[ismrmrd.Image], header_xml: bytes | str | None = None,
                 group: str = "dataset") -> int:
    """Write images to ``/<group>/image_<series>``; atomic (temp file + rename). Returns the count."""
    count = 0
    with atomic_output(path, "image file") as tmp:
        dataset = ismrmrd.Dataset(str(tmp), dataset_name=group, mode="w")
        try:
            if header_xml is not None:
                dataset.write_xml_header(header_xml if isinstance(header_xml, bytes) else header_xml.encode())
            for image in images:
                dataset.append_image(f"image_{image.image_series_index}", image)
                count += 1
        finally:
            dataset.close()
        if count == 0:
            raise UserError("the reconstruction produced no images")
    return count


@dataclass
class ImageSeries:
    name: str  # "<group>/image_<series>"
    headers: np.ndarray  # structured ImageHeader records
    attributes: list[str]
    data: np.ndarray  # (images, channels, z, y, x), complex64 or float32

    def frames(self) -> np.ndarray:
        """(slices, phases, ny, nx), ordered by the header's slice and phase."""
        slices = self.headers["slice"].astype(int)
        phases = self.headers["phase"].astype(int)
        ns, nt = slices.max() + 1, phases.max() + 1
        out = np.zeros((ns, nt, *self.data.shape[-2:]), self.data.dtype)
        for i, (s, t) in enumerate(zip(slices, phases, strict=True)):
            out[s, t] = self.data[i, 0, 0]
        return out


def read_images(path: str | os.PathLike) -> list[ImageSeries]:
    path = Path(path)
    found = []
    with read_h5(path, "image file") as f:
        for group_name, group in f.items():
            if not isinstance(group, h5py.Group):
                continue
            for name, series in group.items():
                if not (name.startswith("image_") and isinstance(series, h5py.Group) and "data" in series):
                    continue
                data = series["data"][()]
                if data.dtype.names and {"real", "imag"} <= set(data.dtype.names):
                    data = (data["real"] + 1j * data["imag"]).astype(np.complex64)
                attributes = [a.decode() if isinstance(a, bytes) else str(a) for a in series["attributes"][()]]
                found.append(ImageSeries(f"{group_name}/{name}", series["header"][()], attributes, data))
    if not found:
        raise UserError(f"{str(path)!r} holds no ISMRMRD images (no <group>/image_* datasets)")
    return found


def read_reference(path: str | os.PathLike) -> np.ndarray | None:
    """``/reference/images`` (slices, frames, ny, nx) complex64, or None when the file has none."""
    path = Path(path)
    with read_h5(path, "reference file") as f:
        if "reference" not in f or "images" not in f["reference"]:
            return None
        ref = f["reference"]["images"][()]
    if ref.dtype.names and {"real", "imag"} <= set(ref.dtype.names):
        ref = ref["real"] + 1j * ref["imag"]
    ref = np.asarray(ref)
    if ref.ndim == 3:  # a single slice stored without its slice axis
        ref = ref[None]
    return ref.astype(np.complex64)
