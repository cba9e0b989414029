"""DICOM out: an ISMRMRD image file -> one MR Image Storage file per image (slice x frame), with pydicom.

Used by ``gadgetron-inr export-dicom IMAGES.h5 DIR`` (``pipelines.commands.export_dicom``) and
``replay ... --dicom DIR``; the conventions (every attribute, where it comes from) are in ``docs/dicom.md``. In short:

- **Series**: one per output kind: the ISMRMRD ``image_series_index`` (1: the method's images, 2: the
  preview), and the fallback method's images of a series apart from its own (their image comment
  says ``(fallback: ...)``), SeriesNumber ``100 + index``. Folder ``DIR/series_NNN_<kind>/``, files
  ``NNNN.dcm`` by InstanceNumber, which counts slice-major then frame (then contrast, set, repetition).
- **Patient, study, series, frame of reference** from the raw ISMRMRD XML header the image file
  carries (``/<group>/xml``): ``subjectInformation``, ``studyInformation``, ``measurementInformation``,
  ``acquisitionSystemInformation``, ``sequenceParameters``. UIDs absent there are name-based UUIDs
  (``2.25.<uuid5>``): the study's and the frame of reference's from the header alone (two
  reconstructions of one scan share them), each series' and image's also from the pixel data, so the
  same image file always gives the same UIDs and a different reconstruction new ones.
- **Geometry** from each ISMRMRD image header. ISMRMRD ``position`` is the centre of the image and
  pixel ``i`` of ``n`` sits at ``(i - n // 2) * FOV / n`` from it (the centred-FFT convention of
  ``inr_core`` and ``Method.output_shape``); DICOM ImagePositionPatient is the centre of the first
  pixel (row 0, column 0). Columns run along ``read_dir`` (numpy ``(ny, nx)``: x is the readout), rows
  along ``phase_dir``: ImageOrientationPatient = read_dir, phase_dir; PixelSpacing = (FOV_y / ny,
  FOV_x / nx) (row spacing first); SliceThickness = FOV_z.
  An image whose header has no orientation (zero directions) is written axially, with a warning.
- **Time**: TriggerTime = ``physiology_time_stamp[0]`` x 2.5 ms (gated series only: some stamp is not
  zero) and AcquisitionTime = ``acquisition_time_stamp`` x 2.5 ms after midnight: the Siemens tick
  (``TICK_MS``), which is also what ``simulate`` writes. ISMRMRD leaves the unit to the vendor.
- **Pixels**: unsigned 16-bit. Float images are stored as ``round((v - intercept) / slope)`` with one
  RescaleSlope/RescaleIntercept per series (intercept 0 unless the series has negative values), so
  the stored value times the slope is the reconstruction's value within half a slope; complex images
  are written as their magnitude; ushort images as they are (slope 1). Window centre and width
  from the image meta (``WindowCenter``/``WindowWidth``, or Gadgetron's ``GADGETRON_``-prefixed keys),
  in the rescaled units, as DICOM's VOI LUT expects (VOILUTFunction LINEAR_EXACT for rescaled
  images: a float scale's window need not be 1 or wider). SeriesDescription as ``mrd2dicom`` makes it: the
  protocol name (or the meta's ``SeriesDescription``) and the meta's ``SeriesDescriptionAdditional``
  (or Gadgetron's ``SeqDescription``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd
import numpy as np

from pipelines.errors import UserError

log = logging.getLogger(__name__)

TICK_MS = 2.5  # ISMRMRD time stamps in Siemens ticks (the simulator writes the same)
USHORT_MAX = 65535
FALLBACK_SERIES_OFFSET = 100
# Name-based UUIDs (RFC 4122 version 5) under this namespace: UIDs 2.25.<uuid as integer> (DICOM PS3.5 B.2).
UID_NAMESPACE = uuid.UUID("6f1c9a52-4d0e-5b7a-9c3e-2a8f0d6b4e11")


@dataclass
class _Image:
    head: np.void  # ISMRMRD ImageHeader record
    meta: dict
    pixels: np.ndarray  # (ny, nx)


@dataclass
class _Series:
    index: int  # ISMRMRD image_series_index
    fallback: bool
    images: list[_Image] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.index + (FALLBACK_SERIES_OFFSET if self.fallback else 0)

    @property
    def kind(self) -> str:
        if self.fallback:
            return "fallback"
        return "preview" if any(_is_preview(i.meta) for i in self.images) else "image"


# -- entry points ---------------------------------------------------------------------------------
def check_dicom_folder(folder: str | os.PathLike) -> Path:
    """The output folder, or UserError: it must be absent or an empty folder (stale files of another
    export would mix into the series); its parent must be a folder that can take it."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"DICOM folder {str(folder)!r} exists and is not a folder")
        if any(folder.iterdir()):
            raise UserError(f"DICOM folder {str(folder)!r} is not empty: choose a new or empty folder")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"DICOM folder {str(folder)!r} is below {str(parent)!r}, which is not a folder")
            break
    return folder


def export_dicom(images_path: str | os.PathLike, folder: str | os.PathLike,
                 raw: str | os.PathLike | None = None) -> dict[int, int]:
    """Write every image of ``images_path`` to ``folder`` (see the module docstring); returns
    {SeriesNumber: image count}. The ISMRMRD header is the image file's own, or the raw file's
    ``raw`` (which wins). Written into a temporary folder beside ``folder`` and renamed, so a failure
    leaves nothing behind."""
    from pipelines.files.ismrmrd_io import open_raw

    folder = check_dicom_folder(folder)
    header, series = read_image_file(images_path)
    if raw is not None:
        header = open_raw(raw).header
    elif header is None:
        log.warning("%s has no ISMRMRD header: no patient, study or protocol in the DICOM files, UIDs generated "
                    "(pass the raw file: export-dicom --raw RAW.h5)", images_path)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    except OSError as exc:
        raise UserError(f"cannot write DICOM folder {str(folder)!r}: {exc.strerror}") from None
    try:
        counts = {}
        for s in series:
            counts[s.number] = len(write_series(s, header, tmp))
        if folder.exists():
            folder.rmdir()  # checked empty above
        os.replace(tmp, folder)
        os.chmod(folder, 0o777 & ~_umask())
    except OSError as exc:
        raise UserError(f"cannot write DICOM folder {str(folder)!r}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- reading --------------------------------------------------------------------------------------
def read_image_file(path: str | os.PathLike) -> tuple[object | None, list[_Series]]:
    """(parsed ISMRMRD header or None, the series to write, in SeriesNumber order)."""
    from pipelines.files.ismrmrd_io import read_h5, read_images

    found = read_images(path)
    group = found[0].name.split("/")[0]
    with read_h5(path, "image file") as f:
        xml = bytes(f[group]["xml"][0]) if "xml" in f[group] else None
    header = None
    if xml:
        try:
            header = ismrmrd.xsd.CreateFromDocument(xml)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
            raise UserError(f"{str(path)!r}: the ISMRMRD header does not parse: {' '.join(str(exc).split())}") from None
    groups: dict[tuple[int, bool], _Series] = {}
    for s in found:
        if s.data.ndim != 5 or s.data.shape[1] != 1 or s.data.shape[2] != 1:
            raise UserError(f"{str(path)!r}: {s.name} holds images of shape {s.data.shape[1:]} (channels, z, y, x): "
                            "DICOM export takes single-channel 2D images")
        for head, text, data in zip(s.headers, s.attributes, s.data, strict=True):
            meta = dict(ismrmrd.Meta.deserialize(text)) if text.strip() else {}
            pixels = np.abs(data[0, 0]) if np.iscomplexobj(data) else data[0, 0]
            key = (int(head["image_series_index"]), _is_fallback(meta))
            groups.setdefault(key, _Series(*key)).images.append(_Image(head, meta, pixels))
    series = sorted(groups.values(), key=lambda s: s.number)
    for s in series:
        s.images.sort(key=lambda i: tuple(int(i.head[k]) for k in
                                          ("slice", "contrast", "set", "repetition", "phase", "image_index")))
    return header, series


def _meta(meta: dict, *keys: str) -> str | None:
    """The first of ``keys`` present (a list's last element: Gadgetron's ['GT', text] convention)."""
    for key in keys:
        for name in (key, f"GADGETRON_{key}"):
            value = meta.get(name)
            if isinstance(value, list):
                value = value[-1] if value else None
            if value not in (None, ""):
                return str(value)
    return None


def _suffix(meta: dict) -> str:
    return _meta(meta, "SeriesDescriptionAdditional", "SequenceDescriptionAdditional", "SeqDescription") or ""


def _is_fallback(meta: dict) -> bool:
    return "(fallback:" in (_meta(meta, "ImageComment") or "") or "_FALLBACK" in _suffix(meta)


def _is_preview(meta: dict) -> bool:
    return "_PREVIEW" in _suffix(meta) or (_meta(meta, "ImageComment") or "").endswith(" preview")


# -- writing --------------------------------------------------------------------------------------
def write_series(series: _Series, header, folder: Path) -> list[Path]:
    """One file per image of ``series`` under ``folder/series_NNN_<kind>/``."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    stack = np.stack([np.asarray(i.pixels) for i in series.images])
    stored, slope, intercept = _quantise(stack)
    digest = hashlib.sha256(np.ascontiguousarray(stack).tobytes()).hexdigest()
    scan = _scan_key(header)
    series_uid = _series_uid(header, series, scan, digest)
    common = _common(header, series, scan)
    common.SeriesInstanceUID = series_uid
    if not all(oriented(i.head) for i in series.images):
        log.warning("series %d: images without an orientation (read_dir/phase_dir not orthonormal in the "
                    "ISMRMRD header): written as axial, read along x, phase along y", series.number)
    out = folder / f"series_{series.number:03d}_{series.kind}"
    out.mkdir()
    frames_per_slice = _frames_per_slice(series)
    paths = []
    for number, (image, pixels) in enumerate(zip(series.images, stored, strict=True), start=1):
        ds = pydicom.Dataset()
        ds.update(common)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = _uid("image", scan, digest, str(series.number), str(number))
        ds.InstanceNumber = number
        _geometry(ds, image.head)
        _timing(ds, image.head, header, frames_per_slice[int(image.head["slice"])], _gated(series))
        _pixels(ds, pixels, slope, intercept)
        _window(ds, image.meta, rescaled=(slope, intercept) != (1.0, 0.0))
        comment = _meta(image.meta, "ImageComment")
        if comment:
            ds.ImageComments = comment[:10240]
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = out / f"{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _quantise(stack: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(uint16 stack, slope, intercept) with stack ~= stored * slope + intercept; the slope and
    intercept are the values as written (16-character decimal strings), so read-back is exact."""
    if stack.dtype == np.uint16:
        return stack, 1.0, 0.0
    values = stack.astype(np.float64)
    if not np.isfinite(values).all():
        raise UserError("the images hold NaN or Inf values: they cannot be written as DICOM")
    low = min(0.0, float(values.min()))
    high = float(values.max())
    intercept = _ds_value(low)
    span = high - intercept
    slope = _ds_value(span / USHORT_MAX) if span > 0 else 1.0
    while span > 0 and span / slope > USHORT_MAX + 0.5:  # the written slope rounded down: one step up
        slope = _ds_value(slope * (1 + 1e-12))
    stored = np.clip(np.rint((values - intercept) / slope), 0, USHORT_MAX).astype(np.uint16)
    return stored, slope, intercept


def _ds_value(value: float) -> float:
    from pydicom.valuerep import format_number_as_ds

    return float(format_number_as_ds(float(value)))


def _ds(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def _pixels(ds, pixels: np.ndarray, slope: float, intercept: float) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = _ds(intercept)
    ds.RescaleSlope = _ds(slope)
    ds.RescaleType = "US"  # unspecified units: the reconstruction's intensity scale
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()


def _window(ds, meta: dict, rescaled: bool) -> None:
    """The meta's window; for rescaled (float) images VOILUTFunction LINEAR_EXACT: the window maps
    [centre - width/2, centre + width/2] exactly, where LINEAR's -0.5/-1 offsets assume integer steps
    (and forbid a width below 1, which a float scale often has)."""
    centre, width = _meta(meta, "WindowCenter"), _meta(meta, "WindowWidth")
    try:
        centre, width = float(centre), float(width)
    except (TypeError, ValueError):
        return  # no window in the meta: viewers choose one
    if np.isfinite(centre) and np.isfinite(width) and width >= 1e-12:
        ds.WindowCenter = _ds(centre)
        ds.WindowWidth = _ds(width)
        if rescaled or width < 1:
            ds.VOILUTFunction = "LINEAR_EXACT"


AXIAL = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))  # read, phase where a header gives no orientation


def oriented(head) -> bool:
    """Whether read_dir and phase_dir are orthonormal (some producers, e.g. ismrmrd-tools' Shepp-Logan
    generator, leave them zero)."""
    read = np.asarray(head["read_dir"], np.float64)
    phase = np.asarray(head["phase_dir"], np.float64)
    return bool(abs(np.linalg.norm(read) - 1) < 1e-3 and abs(np.linalg.norm(phase) - 1) < 1e-3
                and abs(read @ phase) < 1e-3)


def image_plane(head) -> dict:
    """ImagePositionPatient, ImageOrientationPatient, PixelSpacing and SliceThickness of an ISMRMRD
    image header (numbers, before formatting); see the module docstring for the convention. An image
    without an orientation is placed axially (``AXIAL``)."""
    read, phase = (np.asarray(head["read_dir"], np.float64), np.asarray(head["phase_dir"], np.float64)) \
        if oriented(head) else (np.array(AXIAL[0]), np.array(AXIAL[1]))
    centre = np.asarray(head["position"], np.float64)
    nx, ny = int(head["matrix_size"][0]), int(head["matrix_size"][1])
    fov = np.asarray(head["field_of_view"], np.float64)
    dx, dy = fov[0] / nx, fov[1] / ny
    first = centre - (nx // 2) * dx * read - (ny // 2) * dy * phase
    return {"position": first, "orientation": np.concatenate([read, phase]), "spacing": (dy, dx),
            "thickness": float(fov[2]), "location": float(centre @ np.cross(read, phase))}


def _geometry(ds, head) -> None:
    plane = image_plane(head)
    ds.ImagePositionPatient = [_ds(v) for v in plane["position"]]
    ds.ImageOrientationPatient = [_ds(v) for v in plane["orientation"]]
    ds.PixelSpacing = [_ds(v) for v in plane["spacing"]]
    ds.SliceThickness = _ds(plane["thickness"])
    ds.SliceLocation = _ds(plane["location"])


def _frames_per_slice(series: _Series) -> dict[int, int]:
    counts: dict[int, int] = {}
    for image in series.images:
        counts[int(image.head["slice"])] = counts.get(int(image.head["slice"]), 0) + 1
    return counts


def _gated(series: _Series) -> bool:
    """Cardiac gating: the images carry trigger times (a zero stamp on every image: none)."""
    return any(int(i.head["physiology_time_stamp"][0]) for i in series.images)


def _timing(ds, head, header, frames: int, gated: bool) -> None:
    if gated:  # TriggerTime is type 2C: present only for a gated scan (ScanOptions CG)
        ds.TriggerTime = _ds(float(head["physiology_time_stamp"][0]) * TICK_MS)
        ds.CardiacNumberOfImages = frames
    stamp = int(head["acquisition_time_stamp"])
    if stamp:
        seconds = (stamp * TICK_MS / 1000.0) % 86400.0
        ds.AcquisitionTime = ds.ContentTime = _tm(seconds)
    date = _date(_get(header, "measurementInformation", "seriesDate")) or \
        _date(_get(header, "studyInformation", "studyDate"))
    if date:
        ds.AcquisitionDate = ds.ContentDate = date
    ds.AcquisitionNumber = int(head["repetition"]) + 1
    ds.TemporalPositionIdentifier = int(head["phase"]) + 1


def _tm(seconds: float) -> str:
    micro = int(round(seconds * 1e6)) % (86400 * 10**6)
    return (dt.datetime.min + dt.timedelta(microseconds=micro)).strftime("%H%M%S.%f")


# -- header ---------------------------------------------------------------------------------------
def _get(header, *path):
    """A value from the parsed header, or None where any part of ``path`` is absent."""
    node = header
    for name in path:
        if node is None:
            return None
        node = getattr(node, name, None)
        if isinstance(node, list):
            node = node[0] if node else None
    return node


def _text(value, length: int = 64) -> str:
    return "" if value is None else " ".join(str(getattr(value, "value", value)).split())[:length]


def _date(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10]).strftime("%Y%m%d")
    except ValueError:
        return None


def _time(value) -> str | None:
    if value is None:
        return None
    try:
        t = dt.time.fromisoformat(str(value)[:15])
    except ValueError:
        return None
    return t.strftime("%H%M%S") + (f".{t.microsecond:06d}" if t.microsecond else "")


def _scan_key(header) -> str:
    """What identifies the scan for generated UIDs: its header (the XML as ISMRMRD serialises it)."""
    xml = ismrmrd.xsd.ToXML(header) if header is not None else ""
    return hashlib.sha256(xml.encode()).hexdigest()


def _uid(*parts: str) -> str:
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, '/'.join(parts)).int}"


def _valid_uid(value) -> str | None:
    text = _text(value, 1000)
    if text and len(text) <= 64 and all(p.isdigit() and (p == "0" or not p.startswith("0"))
                                        for p in text.split(".")):
        return text
    return None


def _series_uid(header, series: _Series, scan: str, digest: str) -> str:
    root = _valid_uid(_get(header, "measurementInformation", "seriesInstanceUIDRoot"))
    if root and len(f"{root}.{series.number}") <= 64:
        return f"{root}.{series.number}"  # Gadgetron's convention: the scanner's root, then the series
    return _uid("series", scan, digest, str(series.number))


_GRADIENT_ECHO = ("FISP", "FLASH", "GRE", "SSFP", "FFE", "TFE", "SPGR", "BFFE")


def _scanning_sequence(header) -> str:
    """ScanningSequence from sequence_type: GR, SE or EP where the name says so, else RM (research mode)."""
    name = _text(_get(header, "sequenceParameters", "sequence_type")).upper()
    if "EPI" in name:
        return "EP"
    if any(k in name for k in _GRADIENT_ECHO):
        return "GR"
    if "SE" in name:
        return "SE"
    return "RM"


def _common(header, series: _Series, scan: str):
    """The attributes every image of the series shares (patient, study, series, equipment, MR)."""
    import pydicom

    ds = pydicom.Dataset()
    subject = lambda name: _get(header, "subjectInformation", name)  # noqa: E731
    study = lambda name: _get(header, "studyInformation", name)  # noqa: E731
    measurement = lambda name: _get(header, "measurementInformation", name)  # noqa: E731
    system = lambda name: _get(header, "acquisitionSystemInformation", name)  # noqa: E731
    sequence = lambda name: _get(header, "sequenceParameters", name)  # noqa: E731
    texts = [_text(subject("patientName")), _text(study("studyDescription")), _text(measurement("protocolName"))]
    if any(not t.isascii() for t in texts):
        ds.SpecificCharacterSet = "ISO_IR 192"
    # Patient
    ds.PatientName = _text(subject("patientName"))
    ds.PatientID = _text(subject("patientID"))
    ds.PatientBirthDate = _date(subject("patientBirthdate")) or ""
    ds.PatientSex = {"M": "M", "F": "F", "O": "O"}.get(_text(subject("patientGender")).upper(), "")
    if subject("patientWeight_kg") is not None:
        ds.PatientWeight = _ds(float(subject("patientWeight_kg")))
    if subject("patientHeight_m") is not None:
        ds.PatientSize = _ds(float(subject("patientHeight_m")))
    # General Study
    ds.StudyInstanceUID = _valid_uid(study("studyInstanceUID")) or _uid("study", scan)
    ds.StudyDate = _date(study("studyDate")) or ""
    ds.StudyTime = _time(study("studyTime")) or ""
    ds.ReferringPhysicianName = _text(study("referringPhysicianName"))
    ds.StudyID = _text(study("studyID"), 16)
    ds.AccessionNumber = _text(study("accessionNumber"), 16)
    if study("studyDescription") is not None:
        ds.StudyDescription = _text(study("studyDescription"))
    if study("bodyPartExamined") is not None:
        ds.BodyPartExamined = _text(study("bodyPartExamined"), 16).upper()
    # General Series
    ds.Modality = "MR"
    ds.SeriesNumber = series.number
    ds.SeriesDescription = _series_description(header, series)
    if measurement("seriesDate") is not None:
        ds.SeriesDate = _date(measurement("seriesDate")) or ""
    if measurement("seriesTime") is not None:
        ds.SeriesTime = _time(measurement("seriesTime")) or ""
    ds.PatientPosition = _text(measurement("patientPosition"), 16)
    ds.Laterality = ""  # type 2C: the heart is no paired structure
    if measurement("protocolName") is not None:
        ds.ProtocolName = _text(measurement("protocolName"))
    # Frame of Reference
    ds.FrameOfReferenceUID = _valid_uid(measurement("frameOfReferenceUID")) or _uid("frame-of-reference", scan)
    ds.PositionReferenceIndicator = ""
    # General Equipment
    ds.Manufacturer = _text(system("systemVendor"))
    if system("systemModel") is not None:
        ds.ManufacturerModelName = _text(system("systemModel"))
    if system("institutionName") is not None:
        ds.InstitutionName = _text(system("institutionName"))
    if system("stationName") is not None:
        ds.StationName = _text(system("stationName"), 16)
    ds.SoftwareVersions = "gadgetron-inr"
    # MR Image
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]  # reconstructed from the raw data
    ds.ScanningSequence = _scanning_sequence(header)
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = "CG" if _gated(series) else ""
    ds.MRAcquisitionType = "2D"
    # type 2C (all but echo-planar spoiled sequences): empty where the header has no TR
    ds.RepetitionTime = _ds(float(sequence("TR"))) if sequence("TR") is not None else ""
    ds.EchoTime = _ds(float(sequence("TE"))) if sequence("TE") is not None else ""
    ds.EchoTrainLength = ""
    if sequence("TI") is not None:
        ds.InversionTime = _ds(float(sequence("TI")))
    if sequence("flipAngle_deg") is not None:
        ds.FlipAngle = _ds(float(sequence("flipAngle_deg")))
    if system("systemFieldStrength_T") is not None:
        ds.MagneticFieldStrength = _ds(float(system("systemFieldStrength_T")))
    frequency = _get(header, "experimentalConditions", "H1resonanceFrequency_Hz")
    if frequency is not None:
        ds.ImagingFrequency = _ds(float(frequency) / 1e6)
    ds.BurnedInAnnotation = "NO"
    return ds


def _series_description(header, series: _Series) -> str:
    """As mrd2dicom builds it: the meta's ``SeriesDescription`` or else the protocol name, then the
    ``SeriesDescriptionAdditional`` suffix (or Gadgetron's ``SeqDescription``: ``_INR_<method>``, ...)."""
    first = series.images[0].meta
    base = _meta(first, "SeriesDescription") or _text(_get(header, "measurementInformation", "protocolName"))
    suffix = _suffix(first)
    if series.fallback and "_FALLBACK" not in suffix:
        suffix += "_FALLBACK"
    return (base + suffix)[:64] or f"gadgetron-inr series {series.number}"
