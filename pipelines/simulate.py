"""``gadgetron-inr simulate``: write a simulated cardiac cine as an ISMRMRD raw file.

The file holds a noise scan, the undersampled segmented cine (Cartesian k-t mask or golden-angle
radial spokes) and, in ``/reference``, the fully sampled truth and coil maps (see
``pipelines.raw_writer`` for the layout and conventions).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from inr_core.sampling import PATTERNS, calibration_lines, make_mask
from inr_core.simulate import simulate_cine
from pipelines.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "kt-gaussian"
DEFAULT_ACCELERATION = 8.0


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
    parser.add_argument("--snr", type=float, default=30.0,
                        help="mean heart signal over noise std in the fully sampled image (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (texture, coils, noise, mask)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def _check(args) -> None:
    """Refuse bad option values with one line each, before any work is done."""
    if args.matrix < 16 or args.matrix % 2 or args.matrix > 1024:
        raise UserError(f"--matrix must be an even number between 16 and 1024, got {args.matrix}")
    if not 1 <= args.frames <= 200:
        raise UserError(f"--frames must be between 1 and 200, got {args.frames}")
    if not 1 <= args.coils <= 64:
        raise UserError(f"--coils must be between 1 and 64, got {args.coils}")
    if not args.snr > 0:
        raise UserError(f"--snr must be positive, got {args.snr}")
    if args.seed < 0:
        raise UserError(f"--seed must be non-negative, got {args.seed}")
    if args.trajectory == "radial":
        if args.pattern is not None or args.acceleration is not None:
            raise UserError("--pattern and --acceleration apply to Cartesian data; radial undersampling is --spokes")
        if not 1 <= args.spokes <= 4 * args.matrix:
            raise UserError(f"--spokes must be between 1 and {4 * args.matrix}, got {args.spokes}")
    else:
        r = DEFAULT_ACCELERATION if args.acceleration is None else args.acceleration
        pattern = args.pattern or DEFAULT_PATTERN
        if not 1 <= r <= args.matrix / 4:
            raise UserError(f"--acceleration must be between 1 and {args.matrix // 4}, got {r:g}")
        if pattern != "kt-gaussian" and r != int(r):
            raise UserError(f"--acceleration must be a whole number for {pattern}, got {r:g}")
    out = Path(args.output)
    if out.exists() and not args.force:
        raise UserError(f"{str(out)!r} exists (use --force to overwrite)")
    if not out.parent.is_dir():
        raise UserError(f"output folder {str(out.parent)!r} does not exist")


def run(args) -> int:
    from pipelines.raw_writer import write_raw  # h5py/ismrmrd only when actually writing

    _check(args)
    start = time.perf_counter()
    sim = simulate_cine(args.matrix, args.frames, args.coils, args.snr, args.seed, trajectory=args.trajectory,
                        spokes=args.spokes)
    if args.trajectory == "radial":
        path = write_raw(args.output, sim)
        what = f"radial, {args.spokes} spokes/frame"
    else:
        pattern = args.pattern or DEFAULT_PATTERN
        r = DEFAULT_ACCELERATION if args.acceleration is None else args.acceleration
        mask = make_mask(pattern, args.matrix, args.frames, r, seed=args.seed)
        path = write_raw(args.output, sim, mask=mask, pattern=pattern, acceleration=r,
                         acs_lines=calibration_lines(pattern, args.matrix))
        what = f"cartesian {pattern} R={r:g} (effective {mask.size / mask.sum():.2f})"
    log.info("%dx%d, %d frames, %d coils, SNR %g, seed %d, %s in %.1f s", args.matrix, args.matrix, args.frames,
             args.coils, args.snr, args.seed, what, time.perf_counter() - start)
    print(path)
    return 0
