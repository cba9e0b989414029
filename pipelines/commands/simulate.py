"""``gadgetron-inr simulate``: write a simulated cardiac cine as an ISMRMRD raw file.

The file holds a noise scan, the undersampled segmented cine (Cartesian k-t mask or golden-angle
radial spokes) and, in ``/reference``, the fully sampled truth and coil maps (see
``pipelines.files.raw_writer`` for the layout and conventions).

``--realistic`` writes what a scanner would (``inr_core.simulate.Realism``, docs/simulation.md): a
cardiac coil array, a smooth background phase of a few radians, noise set as k-space-centre SNR in dB
(``--snr-db``), embedded ACS lines flagged the Siemens way and, with ``--partial-fourier``, asymmetric
k-space. ``--slices N`` writes a short-axis stack (``inr_core.simulate.simulate_stack``,
``pipelines.files.raw_writer.write_raw``): slice after slice, one noise scan at the start.
Benches call ``simulate_file`` directly; the command is a thin wrapper around it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from inr_core.sampling import PATTERNS, calibration_lines, lattice_mask, make_mask
from inr_core.simulate import Realism, simulate_stack
from pipelines.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "kt-gaussian"
DEFAULT_ACCELERATION = 8.0
DEFAULT_SNR = 30.0
DEFAULT_SNR_DB = Realism.snr_db
MAX_SLICES = 64


def add_arguments(parser):
    parser.add_argument("-o", "--output", required=True, help="raw file to write (.h5)")
    parser.add_argument("--trajectory", choices=("cartesian", "radial"), default="cartesian")
    parser.add_argument("--pattern", choices=tuple(PATTERNS), default=None,
                        help=f"Cartesian sampling pattern (default {DEFAULT_PATTERN})")
    parser.add_argument("--acceleration", type=float, default=None,
                        help=f"Cartesian acceleration R (default {DEFAULT_ACCELERATION:g})")
    parser.add_argument("--spokes", type=int, default=13, help="radial spokes per frame (default 13)")
    parser.add_argument("--frames", type=int, default=20, help="cardiac phases over one heartbeat (default 20)")
    parser.add_argument("--matrix", type=int, default=128, help="image size n for an n x n image (default 128)")
    parser.add_argument("--coils", type=int, default=8, help="receiver coils (default 8)")
    parser.add_argument("--snr", type=float, default=None,
                        help=f"mean heart signal over noise std in the fully sampled image (default {DEFAULT_SNR:g}; "
                             "not with --realistic)")
    parser.add_argument("--realistic", action="store_true",
                        help="scanner-like data: cardiac coil array, background phase, noise as k-space-centre "
                             "SNR in dB, Siemens-flagged embedded ACS (docs/simulation.md)")
    parser.add_argument("--snr-db", type=float, default=None,
                        help=f"with --realistic: k-space-centre SNR of the strongest coil in dB (default "
                             f"{DEFAULT_SNR_DB:g})")
    parser.add_argument("--partial-fourier", type=float, default=None, metavar="F",
                        help="with --realistic, Cartesian: acquire only the last round(F*n) of n lines, F in [0.5, 1)")
    parser.add_argument("--slices", type=int, default=1,
                        help="short-axis slices: a stack acquired slice after slice, one breath-hold each, one noise "
                             "scan at the start (default 1)")
    parser.add_argument("--only-slice", type=int, default=None, metavar="K",
                        help="with --slices: write the noise scan and slice K of that stack alone (same data, "
                             "header and time stamps): what slice K replays as on its own")
    parser.add_argument("--seed", type=int, default=0, help="random seed (texture, coils, noise, mask)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def _check_cli(args) -> None:
    """Option combinations only the command line can get wrong (simulate_file takes explicit values)."""
    if args.trajectory == "radial" and (args.pattern is not None or args.acceleration is not None):
        raise UserError("--pattern and --acceleration apply to Cartesian data; radial undersampling is --spokes")
    if args.realistic and args.snr is not None:
        raise UserError("--snr sets the image-domain SNR of the plain simulation; with --realistic use --snr-db")
    if not args.realistic and (args.snr_db is not None or args.partial_fourier is not None):
        raise UserError("--snr-db and --partial-fourier need --realistic")


def _check(path: Path, *, trajectory, pattern, acceleration, spokes, frames, matrix, coils, seed, realistic, snr,
           snr_db, partial_fourier, force, slices=1, only_slice=None) -> None:
    """Refuse bad option values with one line each, before any work is done."""
    if not 1 <= slices <= MAX_SLICES:
        raise UserError(f"--slices must be between 1 and {MAX_SLICES}, got {slices}")
    if only_slice is not None and not 0 <= only_slice < slices:
        raise UserError(f"--only-slice must be a slice of the stack, 0..{slices - 1}, got {only_slice}")
    if matrix < 16 or matrix % 2 or matrix > 1024:
        raise UserError(f"--matrix must be an even number between 16 and 1024, got {matrix}")
    if not 1 <= frames <= 200:
        raise UserError(f"--frames must be between 1 and 200, got {frames}")
    if not 1 <= coils <= 64:
        raise UserError(f"--coils must be between 1 and 64, got {coils}")
    if not realistic and not snr > 0:
        raise UserError(f"--snr must be positive, got {snr}")
    if realistic and not -20 <= snr_db <= 120:
        raise UserError(f"--snr-db must be between -20 and 120, got {snr_db:g}")
    if seed < 0:
        raise UserError(f"--seed must be non-negative, got {seed}")
    if partial_fourier is not None:
        if trajectory == "radial":
            raise UserError("--partial-fourier applies to Cartesian data")
        if not 0.5 <= partial_fourier < 1:
            raise UserError(f"--partial-fourier must be in [0.5, 1), got {partial_fourier:g}")
    if trajectory == "radial":
        if not 1 <= spokes <= 4 * matrix:
            raise UserError(f"--spokes must be between 1 and {4 * matrix}, got {spokes}")
    else:
        if not 1 <= acceleration <= matrix / 4:
            raise UserError(f"--acceleration must be between 1 and {matrix // 4}, got {acceleration:g}")
        if pattern != "kt-gaussian" and acceleration != int(acceleration):
            raise UserError(f"--acceleration must be a whole number for {pattern}, got {acceleration:g}")
    if path.exists() and not force:
        raise UserError(f"{str(path)!r} exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise UserError(f"output folder {str(path.parent)!r} does not exist")


def simulate_file(path, *, trajectory="cartesian", pattern=DEFAULT_PATTERN, acceleration=DEFAULT_ACCELERATION,
                  spokes=13, frames=20, matrix=128, coils=8, seed=0, realistic=False, snr=DEFAULT_SNR,
                  snr_db=DEFAULT_SNR_DB, partial_fourier=None, force=False, slices=1, only_slice=None) -> Path:
    """Simulate a cine and write it as an ISMRMRD raw file at ``path``: exactly what the command writes.

    ``pattern`` and ``acceleration`` apply to Cartesian data, ``spokes`` to radial. ``snr`` is the
    image-domain SNR of the plain simulation; with ``realistic`` the noise is set by ``snr_db``
    instead (``snr`` is ignored) and ``partial_fourier`` may shorten Cartesian k-space. ``slices`` > 1
    writes a short-axis stack (``only_slice`` K: the noise scan and slice K of it alone). Raises
    ``UserError`` (one line) for bad values or an existing file without ``force``.
    """
    from pipelines.files.raw_writer import write_raw  # h5py/ismrmrd only when actually writing

    path = Path(path)
    _check(path, trajectory=trajectory, pattern=pattern, acceleration=acceleration, spokes=spokes, frames=frames,
           matrix=matrix, coils=coils, seed=seed, realistic=realistic, snr=snr, snr_db=snr_db,
           partial_fourier=partial_fourier, force=force, slices=slices, only_slice=only_slice)
    realism = Realism(snr_db=float(snr_db), partial_fourier=partial_fourier) if realistic else None
    start = time.perf_counter()
    sims = simulate_stack(slices, matrix, frames, coils, DEFAULT_SNR if realistic else snr, seed,
                          trajectory=trajectory, spokes=spokes, realism=realism)
    stack = {"slices": slices, "only_slice": only_slice}
    first = []  # slice 0, for the log line

    def kept(stream):
        for sim in stream:
            first[:] = first or [sim]
            yield sim

    if trajectory == "radial":
        write_raw(path, kept(sims), **stack)
        what = f"radial, {spokes} spokes/frame"
    else:
        mask = make_mask(pattern, matrix, frames, acceleration, seed=seed)
        siemens = realism is not None and realism.siemens_acs_flags
        lattice = lattice_mask(pattern, matrix, frames, acceleration, seed=seed) if siemens else None
        write_raw(path, kept(sims), mask=mask, pattern=pattern, acceleration=acceleration,
                  acs_lines=calibration_lines(pattern, matrix), lattice=lattice, **stack)
        what = f"cartesian {pattern} R={acceleration:g} (effective {mask.size / mask.sum():.2f})"
        if partial_fourier is not None:
            what += f", partial Fourier {partial_fourier:g}"
    noise = (f"k-space-centre SNR {snr_db:g} dB (image SNR {first[0].snr:.1f})" if realistic else f"SNR {snr:g}")
    if slices > 1:
        what += f", {slices} slices" + (f" (slice {only_slice} written alone)" if only_slice is not None else "")
    log.info("%dx%d, %d frames, %d coils, %s, seed %d, %s in %.1f s", matrix, matrix, frames, coils, noise, seed,
             what, time.perf_counter() - start)
    return path


def run(args) -> int:
    _check_cli(args)
    path = simulate_file(
        args.output, trajectory=args.trajectory, pattern=args.pattern or DEFAULT_PATTERN,
        acceleration=DEFAULT_ACCELERATION if args.acceleration is None else args.acceleration, spokes=args.spokes,
        frames=args.frames, matrix=args.matrix, coils=args.coils, seed=args.seed, realistic=args.realistic,
        snr=DEFAULT_SNR if args.snr is None else args.snr,
        snr_db=DEFAULT_SNR_DB if args.snr_db is None else args.snr_db,
        partial_fourier=args.partial_fourier, force=args.force, slices=args.slices, only_slice=args.only_slice)
    print(path)
    return 0
