"""BART as the yardstick of ``bench classical --against bart``: the same data, the same maps, one run.

Each raw file goes through our own front end (NoisePrewhitening -> RemoveReadoutOversampling ->
CineBuffer -> CoilMaps), so BART sees exactly the k-space and the ESPIRiT maps our methods see.
They are written as BART ``.cfl``/``.hdr`` files and reconstructed with Debian's ``bart pics``:

- ``bart pics LLR``: locally low rank, ``-R L:7:7:lambda`` with ``-b`` blocks (spatial blocks,
  rank over the frames);
- ``bart pics TV``: temporal total variation, ``-R T:1024:0:lambda`` (flag 1024 = dim 10, time);
- ``bart ecalib + pics LLR`` (Cartesian): the same LLR with BART's own ESPIRiT maps, from the
  time-averaged k-space, to separate the maps' share from the solver's.

BART's layout: ``x`` (readout, nx) dim 0, ``y`` (ny) dim 1, coils dim 3, frames dim 10; radial
k-space is ``(1, samples, spokes, coils, ..., frames)`` with a trajectory ``(3, samples, spokes,
..., frames)`` in cycles per FOV (BART's grid units, the same as ``inr_core.data``'s).

Scale. ``pics`` divides the data by its own estimate of their scale before solving, so its
``lambda`` is a fraction of that scale (the same idea as our relative weights); ``-S`` multiplies
the result back, so images come back on the data's scale. Then the chain's intensity correction
(the prewhitening's spatial weight, ``CineSlice.intensity``) is applied as
``gadgets.reconstruction`` applies it after every method, the images go through our ImageExport
(cropped and written as ours are) and are scored exactly as ``suite.run_one`` scores our rows
(kp-inr protocol Cartesian, da-inr radial).

The weights (``RECONS``) were chosen once on seed-0 files and are fixed for every file and seed.

Timing. A BART row's ``seconds`` is our front end (prewhitening, buffering, ESPIRiT: the part of
our chain that BART's input needs) plus the wall time of the ``bart`` subprocesses, file I/O
included; ``bart_seconds`` is the subprocesses alone. Both come from the same run as our rows.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BART_DIMS = 16  # BART's DIMS: every .hdr written here has 16 dimensions
TIME_DIM = 10
COIL_DIM = 3
TIME_FLAG = 1 << TIME_DIM


@dataclass(frozen=True)
class BartRecon:
    """One BART reconstruction: a row name and its ``pics`` options (``lambda`` filled in by trajectory)."""

    name: str
    regulariser: str  # -R template, {lam} replaced by the weight
    weights: dict  # trajectory -> lambda (fraction of pics' own data scale)
    extra: tuple[str, ...] = ()
    own_maps: bool = False  # True: BART ecalib maps instead of ours

    @property
    def slug(self) -> str:
        """The name as a file name: ``bart_pics_llr``."""
        return self.name.replace(" + ", "_").replace(" ", "_").lower()


BLOCK = 8  # LLR block size: 8x8 pixels, BART's usual choice for cine at this resolution
ITERATIONS = 100  # BART's default 30 stops early: -1.4 dB Cartesian LLR, -6 dB radial LLR on seed 0 (realistic)
# lambda, a fraction of pics' own data scale (the p90 of the zero-filled / adjoint-NUFFT image), chosen
# once on seed-0 files (128x128, 12 frames, 8 coils; kt-Gaussian R8 and 13-spoke radial, plain and
# --realistic), each as the best mean PSNR over the two files of its trajectory, then fixed for every
# file and seed (docs/classical-methods.md has the sweep).
# The radial optima are 3-4x smaller; pics' radial scale (p90 of the unweighted adjoint NUFFT image)
# is not the object's: 5.5 against 0.55 for the Cartesian file of the same object.
RECONS = (
    BartRecon("bart pics LLR", "L:7:7:{lam}", {"cartesian": 0.002, "radial": 0.0005}, ("-b", str(BLOCK))),
    BartRecon("bart pics TV", f"T:{TIME_FLAG}:0:{{lam}}", {"cartesian": 0.01, "radial": 0.003}),
    BartRecon("bart ecalib + pics LLR", "L:7:7:{lam}", {"cartesian": 0.002}, ("-b", str(BLOCK)), own_maps=True),
)


class BartMissing(RuntimeError):
    """``bart`` is not on the PATH."""


def bart_executable() -> str | None:
    return shutil.which("bart")


# -- .cfl / .hdr ----------------------------------------------------------------------------------
def write_cfl(base: str | Path, array: np.ndarray) -> None:
    """``base.hdr`` + ``base.cfl``: complex64, column-major (dim 0 varies fastest), as BART reads them."""
    array = np.asarray(array, np.complex64)
    dims = list(array.shape) + [1] * (BART_DIMS - array.ndim)
    Path(f"{base}.hdr").write_text("# Dimensions\n" + " ".join(str(d) for d in dims) + "\n")
    array.ravel(order="F").tofile(f"{base}.cfl")


def read_cfl(base: str | Path) -> np.ndarray:
    """The array of ``base.cfl``, shaped by ``base.hdr`` with trailing singleton dimensions dropped."""
    lines = [ln for ln in Path(f"{base}.hdr").read_text().splitlines() if ln and not ln.startswith("#")]
    dims = [int(d) for d in lines[0].split()]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    data = np.fromfile(f"{base}.cfl", np.complex64)
    return data.reshape(dims, order="F")


def _bart_shape(**axes: int) -> list[int]:
    """A BART dimension list with the named axes (``x``, ``y``, ``z``, ``coils``, ``time``) set."""
    where = {"x": 0, "y": 1, "z": 2, "coils": COIL_DIM, "time": TIME_DIM}
    dims = [1] * (TIME_DIM + 1)
    for name, size in axes.items():
        dims[where[name]] = size
    return dims


def cartesian_kspace(kspace: np.ndarray) -> np.ndarray:
    """``(T, C, ny, nx)`` -> BART ``(nx, ny, 1, C, 1..., T)``."""
    t, c, ny, nx = kspace.shape
    return kspace.transpose(3, 2, 1, 0).reshape(_bart_shape(x=nx, y=ny, coils=c, time=t), order="F")


def cartesian_pattern(mask: np.ndarray, nx: int) -> np.ndarray:
    """``(T, ny)`` line mask -> BART sampling pattern ``(nx, ny, 1, 1, ..., T)``."""
    t, ny = mask.shape
    pattern = np.broadcast_to(mask.T[None], (nx, ny, t)).astype(np.complex64)
    return pattern.reshape(_bart_shape(x=nx, y=ny, time=t), order="F")


def radial_kspace(kspace: np.ndarray) -> np.ndarray:
    """``(T, C, spokes, samples)`` -> BART ``(1, samples, spokes, C, 1..., T)``."""
    t, c, s, n = kspace.shape
    dims = _bart_shape(y=n, z=s, coils=c, time=t)
    return kspace.transpose(3, 2, 1, 0).reshape(dims, order="F")


def radial_trajectory(traj: np.ndarray) -> np.ndarray:
    """``(T, spokes, samples, 2)`` (kx, ky) in cycles/FOV -> BART ``(3, samples, spokes, 1..., T)``."""
    t, s, n, _ = traj.shape
    full = np.zeros((3, n, s, t), np.complex64)
    full[:2] = traj.transpose(3, 2, 1, 0)
    dims = _bart_shape(x=3, y=n, z=s, time=t)
    return full.reshape(dims, order="F")


def coil_maps(maps: np.ndarray) -> np.ndarray:
    """``(C, ny, nx)`` -> BART ``(nx, ny, 1, C)``."""
    c, ny, nx = maps.shape
    return maps.transpose(2, 1, 0).reshape(_bart_shape(x=nx, y=ny, coils=c)[:COIL_DIM + 1], order="F")


def images_from_bart(image: np.ndarray, frames: int) -> np.ndarray:
    """BART ``(nx, ny, 1, ..., T)`` (singletons possibly dropped) -> ``(T, ny, nx)``."""
    nx, ny = image.shape[0], image.shape[1]
    return image.reshape((nx, ny, frames), order="F").transpose(2, 1, 0)


# -- our front end --------------------------------------------------------------------------------
def front_end(raw_path: Path, coil_maps_too: bool = True):
    """The ``CineSlice`` our methods receive (prewhitened, oversampling removed, buffered, maps).

    Returns ``(item, raw)`` (``pipelines.files.ismrmrd_io.RawFile``); ``coil_maps_too=False`` stops before
    ESPIRiT.
    """
    from gadgets.front_end import cine_slices
    from pipelines.files.ismrmrd_io import open_raw

    raw = open_raw(raw_path)
    items = cine_slices(raw.header, raw.acquisitions(), coil_maps=coil_maps_too)
    if len(items) != 1:
        raise ValueError(f"{raw_path}: {len(items)} slices; the BART comparison takes single-slice files")
    return items[0], raw


def _array(value) -> np.ndarray | None:
    return None if value is None else np.asarray(value.cpu() if hasattr(value, "cpu") else value)


def intensity_of(item) -> np.ndarray | None:
    """The ``(ny, nx)`` factor the chain multiplies into every method's images (see gadgets.reconstruction)."""
    return _array(item.intensity)


def whitener_of(item) -> np.ndarray | None:
    """The ``(C, C)`` prewhitening matrix the data went through, or None."""
    return _array(item.whitener)


def intensity_for_maps(maps: np.ndarray, whitener: np.ndarray | None) -> np.ndarray | None:
    """The chain's correction (``inr_core.coils.intensity_correction``) for other unit-norm maps.

    BART's ecalib maps of the same whitened data carry the same spatial weight ``|W s|`` as ours.
    """
    import torch

    from inr_core.coils import intensity_correction

    if whitener is None:
        return None
    return intensity_correction(torch.from_numpy(np.ascontiguousarray(maps, np.complex64)), whitener).numpy()


# -- running bart ---------------------------------------------------------------------------------
def _peak_mb(pid: int) -> float | None:
    """The process's resident high-water mark (VmHWM) in MB, None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError):
        return None
    return None


def bart_call(*args: str | Path) -> tuple[float, float | None]:
    """Run ``bart ARGS``: (wall seconds, peak resident memory in MB or None).

    A failure raises with BART's own last lines. The memory is polled from /proc while BART runs:
    the child's rusage would report the Python process it was forked from, not BART.
    """
    exe = bart_executable()
    if exe is None:
        raise BartMissing(MISSING)
    command = [exe, *(str(a) for a in args)]
    peak = None
    with tempfile.TemporaryFile("w+") as output:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        while True:
            try:
                child.wait(timeout=0.02)
                break
            except subprocess.TimeoutExpired:
                # VmHWM only grows, so the last reading before BART exits is its peak (to 20 ms).
                peak = _peak_mb(child.pid) or peak
        seconds = time.perf_counter() - start
        if child.returncode != 0:
            output.seek(0)
            tail = output.read().strip().splitlines()[-3:]
            raise RuntimeError(f"bart {args[0]} failed (exit {child.returncode}): {' / '.join(tail)}")
    return seconds, peak


# -- one file -------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """One raw file written for BART: where the files are and what scoring needs."""

    folder: Path
    item: object  # the CineSlice our methods receive (gadgets.items)
    raw: object  # pipelines.files.ismrmrd_io.RawFile
    intensity: np.ndarray | None
    whitener: np.ndarray | None
    buffer_seconds: float  # our prewhitening, oversampling removal and buffering
    maps_seconds: float  # our ESPIRiT

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def trajectory(self) -> str:
        return self.item.data.trajectory

    @property
    def frames(self) -> int:
        return self.item.data.frames

    @property
    def sampling(self) -> list[str]:
        """The ``pics`` option that tells BART where the samples are."""
        return ["-p", str(self.path("pattern"))] if self.trajectory == "cartesian" else ["-t", str(self.path("traj"))]


def time_averaged(data) -> np.ndarray:
    """Cartesian ``(C, ny, nx)``: each sampled line averaged over the frames that sampled it, plus any
    separate calibration lines: the calibration data ESPIRiT (ours or BART's) is given."""
    kspace, mask = data.kspace.numpy(), data.mask.numpy()
    counts = mask.sum(0)
    average = kspace.sum(0) / np.maximum(counts, 1)[None, :, None]
    calibration = getattr(data, "calibration", None)
    if calibration is not None:
        lines = data.calibration_mask.numpy()
        average[:, lines] = calibration.numpy()[:, lines]
    return average.astype(np.complex64)


def prepare(raw_path: Path, folder: Path) -> Prepared:
    """Run our front end on ``raw_path`` and write its k-space, sampling and maps into ``folder``."""
    from gadgets.coil_maps import CoilMaps

    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    item, raw = front_end(raw_path, coil_maps_too=False)
    buffer_seconds = time.perf_counter() - start
    start = time.perf_counter()
    maps_stage = CoilMaps()
    maps_stage.setup({}, raw.header)
    (item,) = list(maps_stage.process(item))
    maps_seconds = time.perf_counter() - start

    data = item.data
    if data.trajectory == "cartesian":
        write_cfl(folder / "kspace", cartesian_kspace(data.kspace.numpy()))
        write_cfl(folder / "pattern", cartesian_pattern(data.mask.numpy(), data.kspace.shape[-1]))
        write_cfl(folder / "calibration", coil_maps(time_averaged(data)))
    else:
        write_cfl(folder / "kspace", radial_kspace(data.kspace.numpy()))
        write_cfl(folder / "traj", radial_trajectory(data.trajectory_k.numpy()))
    write_cfl(folder / "maps", coil_maps(item.coil_maps.cpu().numpy()))
    return Prepared(folder, item, raw, intensity_of(item), whitener_of(item), buffer_seconds, maps_seconds)


def pics_command(recon: BartRecon, prepared: Prepared, maps: str, output: str) -> list[str]:
    lam = recon.weights[prepared.trajectory]
    # -e: step size from the largest eigenvalue; without it LLR diverged (NaN) on the radial seed-0
    # file. -S: images back on the data's scale.
    return ["pics", "-S", "-e", "-i", str(ITERATIONS), *prepared.sampling, "-R", recon.regulariser.format(lam=lam),
            *recon.extra, str(prepared.path("kspace")), str(prepared.path(maps)), str(prepared.path(output))]


def reconstruct(recon: BartRecon, prepared: Prepared) -> tuple[np.ndarray, float, float, list[str]]:
    """``(images (T, ny, nx) on the object's scale, bart seconds, peak MB, commands)`` of one BART row."""
    slug = recon.slug
    commands, seconds, peak = [], 0.0, 0.0
    maps, intensity = "maps", prepared.intensity
    if recon.own_maps:
        maps = "ecalib_maps"
        commands.append(["ecalib", "-m", "1", str(prepared.path("calibration")), str(prepared.path(maps))])
    commands.append(pics_command(recon, prepared, maps, slug))
    for command in commands:
        took, mb = bart_call(*command)
        seconds, peak = seconds + took, max(peak, mb or 0.0)
    peak = peak or None  # no reading: BART ended within one poll
    if recon.own_maps:
        bart_maps = read_cfl(prepared.path(maps))
        ours_layout = bart_maps.reshape(bart_maps.shape[0], bart_maps.shape[1], -1, order="F").transpose(2, 1, 0)
        intensity = intensity_for_maps(ours_layout, prepared.whitener)
    images = images_from_bart(read_cfl(prepared.path(slug)), prepared.frames)
    if intensity is not None:  # as gadgets.reconstruction applies it after every method
        images = images * intensity[None]
    return images, seconds, peak, [" ".join(["bart", *c]) for c in commands]


def recons_for(trajectory: str) -> list[BartRecon]:
    return [r for r in RECONS if trajectory in r.weights]


def export(prepared: Prepared, images: np.ndarray, name: str, out: Path) -> None:
    """Write BART's images through our ImageExport, so they are cropped and stored as ours are."""
    import torch

    from gadgets.image_export import ImageExport
    from pipelines.files.ismrmrd_io import write_images

    item = prepared.item
    item.images, item.method = torch.from_numpy(np.ascontiguousarray(images, np.complex64)), name
    exporter = ImageExport()
    exporter.setup({}, prepared.raw.header)
    write_images(out, list(exporter.process(item)), prepared.raw.header_xml)


def rows_for(raw_path: Path, out_dir: Path, per_frame: bool = False) -> list[dict]:
    """The BART rows of one raw file (same keys as ``suite.run_one``'s, plus ``bart_seconds``, ``command``).

    Scored exactly as ``suite.run_one`` scores our methods: images written as ISMRMRD, read back
    with ``pipelines.commands.evaluate.load_pair``, the kp-inr protocol for Cartesian, da-inr for radial.
    """
    from inr_core.metrics import score
    from pipelines.commands.evaluate import load_pair, summarise

    prepared = prepare(raw_path, out_dir / "bart" / raw_path.stem)
    protocol = "kp-inr" if prepared.trajectory == "cartesian" else "da-inr"
    rows = []
    for recon in recons_for(prepared.trajectory):
        log.info("bench: %s with %s", raw_path.name, recon.name)
        try:
            images, seconds, peak, commands = reconstruct(recon, prepared)
        except RuntimeError as exc:  # the yardstick failing must not lose the rows of our own methods
            log.error("bench: %s on %s: %s; row skipped", recon.name, raw_path.name, exc)
            continue
        out = out_dir / f"{raw_path.stem}_{recon.slug}.h5"
        export(prepared, images, recon.name, out)
        recon_images, reference = load_pair(out, raw_path)
        frames = score(recon_images, reference, protocol)
        front = prepared.buffer_seconds + (0.0 if recon.own_maps else prepared.maps_seconds)
        row = {"file": raw_path.name, "trajectory": prepared.trajectory, "method": recon.name, "preset": "default",
               "seconds": front + seconds, "bart_seconds": seconds, "peak_memory_mb": peak,
               "memory_kind": "bart rss", "device": "cpu (bart)", "images": str(out),
               "command": commands, **summarise(frames, recon_images, protocol)}
        if per_frame:
            row.update({key: [float(v) for v in frames[key]] for key in ("psnr", "ssim", "nrmse")})
        log.info("bench: %s %s: %.2f dB, %.1f s (bart %.1f s)", row["file"], recon.name, row["psnr_mean"],
                 row["seconds"], seconds)
        rows.append(row)
    return rows


# -- the bench's side -----------------------------------------------------------------------------
MISSING = ("bart not found on the PATH (Debian/Ubuntu: apt-get install bart; `.ci/run` installs it): "
           "BART rows skipped")
REFERENCE_ROW = "bart pics LLR"  # every row's time is also given as a multiple of this row's, per file


def available() -> bool:
    """Whether BART rows can be made; logs the one clear message when they cannot."""
    if bart_executable() is None:
        log.warning("bench: --against bart: %s", MISSING)
        return False
    return True


def add_time_ratios(rows: list[dict]) -> None:
    """``time_vs_bart``: each row's wall time over the BART LLR row's on the same file (same run)."""
    reference = {r["file"]: r["seconds"] for r in rows if r["method"] == REFERENCE_ROW}
    for row in rows:
        if row["file"] in reference and reference[row["file"]] > 0:
            row["time_vs_bart"] = row["seconds"] / reference[row["file"]]


def note(ran: bool) -> str:
    """The lines under the table that say what the BART rows are, or that they were skipped."""
    if not ran:
        return f"\n{MISSING}.\n"
    weights = "; ".join(f"{r.name} {', '.join(f'{t} {w:g}' for t, w in r.weights.items())}" for r in RECONS)
    return (f"\nBART rows: our front end (prewhitening, buffering, ESPIRiT maps; ecalib rows: BART's maps) "
            f"then `bart pics -S -e -i {ITERATIONS}`, LLR blocks {BLOCK}; lambda: {weights}. "
            f"time x BART LLR: each row's wall time over the BART LLR row's on the same file.\n")
