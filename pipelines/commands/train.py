"""``gadgetron-inr train gen-inr``: train the Generalized INR once, on the simulation or on a site's data.

Without ``--raw`` the training images are drawn on the fly from the realistic simulation with added
variety (``inr_core.methods.inr.gen_inr.data``); with ``--raw FOLDER`` from every fully sampled
ISMRMRD raw file under the folder (whole files held out for validation). The weights go to
``--output``; use them with ``replay ... --method gen-inr --set weights=PATH``. A checkpoint
(``OUTPUT.ckpt`` unless ``--checkpoint``) is written every ``--checkpoint-every`` steps; ``--resume``
continues from it and ends with the weights an uninterrupted run would have.
Progress goes to stderr (a bar on a terminal, else a log line every few seconds: inr_core.progress); the
final summary (JSON) to stdout.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys

from pipelines.errors import UserError

log = logging.getLogger(__name__)

METHODS = ("gen-inr",)


def add_arguments(parser):
    from inr_core.methods.inr.gen_inr.training import TrainConfig

    d = TrainConfig()
    parser.add_argument("method", choices=METHODS, help="the trained method")
    parser.add_argument("-o", "--output", required=True, help="weights file to write (.pt)")
    parser.add_argument("--raw", metavar="FOLDER", help="train on the fully sampled ISMRMRD files under FOLDER "
                                                        "(default: the realistic simulation, on the fly)")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"optimiser steps (default {d.steps})")
    parser.add_argument("--time-budget", type=float, default=0.0, metavar="S",
                        help="stop after S seconds of training (0: none), with a checkpoint and weights")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="end after N steps, the schedule still spanning --steps (reproduces a run that "
                             "--time-budget ended at step N)")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"images per step (default {d.batch})")
    parser.add_argument("--pixels", type=int, default=d.pixels, help=f"pixels per image per step (default {d.pixels})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"initial learning rate (default {d.lr:g})")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--r-min", type=int, default=d.r_min, help=f"smallest equispaced R (default {d.r_min})")
    parser.add_argument("--r-max", type=int, default=d.r_max, help=f"largest equispaced R (default {d.r_max})")
    parser.add_argument("--kt-masks", type=float, default=0.0, metavar="FRACTION",
                        help="share of samples with one frame of a kt-uniform/kt-Gaussian mask (default 0)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="simulated matrix sizes (ny and nx drawn from these; default 96 128 160 192)")
    parser.add_argument("--coils", type=int, nargs=2, default=None, metavar=("MIN", "MAX"),
                        help="simulated coil counts (default 4 20)")
    parser.add_argument("--prior-iterations", type=int, default=None, metavar="N",
                        help="CG-SENSE iterations of the prior image the network refines (default 3; 0: the "
                             "paper's setting, the SENSE-combined zero-filled image)")
    parser.add_argument("--val-samples", type=int, default=d.val_samples)
    parser.add_argument("--val-every", type=int, default=d.val_every)
    parser.add_argument("--checkpoint", help="checkpoint file (default OUTPUT.ckpt)")
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="where the network trains (samples are simulated on the CPU; default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--no-progress", action="store_true", help="no progress report (bar or log lines)")


def config_from(args):
    from inr_core.methods.inr.gen_inr.training import TrainConfig

    for name in ("steps", "batch", "pixels", "val_samples", "val_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 1 <= args.r_min <= args.r_max:
        raise UserError(f"need 1 <= --r-min <= --r-max, got {args.r_min}, {args.r_max}")
    if not 0 <= args.kt_masks <= 1 or args.time_budget < 0 or args.lr <= 0:
        raise UserError("--kt-masks must be in [0, 1], --time-budget >= 0 and --lr > 0")
    from inr_core.nn.gen_inr_net import GenInrArch

    arch = GenInrArch()
    if args.prior_iterations is not None:
        if args.prior_iterations < 0:
            raise UserError(f"--prior-iterations must be >= 0, got {args.prior_iterations}")
        arch = GenInrArch(prior_iterations=args.prior_iterations)
    return TrainConfig(arch=arch.as_dict(), steps=args.steps, batch=args.batch, pixels=args.pixels, lr=args.lr,
                       seed=args.seed,
                       r_min=args.r_min, r_max=args.r_max, kt_fraction=args.kt_masks, val_samples=args.val_samples,
                       val_every=args.val_every, checkpoint_every=args.checkpoint_every,
                       time_budget_s=args.time_budget)


def sources(args):
    from inr_core.methods.inr.gen_inr.data import COILS, SIZES, SimulatedSource
    from pipelines.files.training_data import load_raw_folder

    if args.raw:
        try:
            return load_raw_folder(args.raw).split()
        except ValueError as exc:
            raise UserError(str(exc)) from None
    sizes = tuple(args.sizes or SIZES)
    coils = tuple(args.coils or COILS)
    if min(sizes) < 32 or not 1 <= coils[0] <= coils[1]:
        raise UserError(f"--sizes must be >= 32 and --coils MIN <= MAX >= 1, got {sizes}, {coils}")
    sim = SimulatedSource(sizes=sizes, coils=coils)
    return sim, sim.validation()


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: this torch sees no CUDA device")
    return name


def command_line(args) -> str:
    """The command with every option spelled out (defaults included): what reproduces the weights."""
    parts = ["gadgetron-inr", "train", args.method]
    for key, value in sorted(vars(args).items()):
        if key.startswith("_") or key in ("method", "command", "verbose", "no_progress") or value in (None, False):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        else:
            values = value if isinstance(value, (list, tuple)) else [value]
            parts += [flag, *(shlex.quote(str(v)) for v in values)]
    return " ".join(parts)


def run(args) -> int:
    import torch

    from inr_core.methods import get_method

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config_from(args)
    source, val = sources(args)
    command = command_line(args)
    try:
        report = get_method(args.method).train(
            source, val, cfg, args.output, checkpoint=args.checkpoint, resume=args.resume,
            show_progress=not args.no_progress, command=command, device=_device(args.device),
            stop_after=args.stop_after)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    last = report["history"][-1] if report["history"] else {}
    log.info("gen-inr: %d steps in %.0f s -> %s (sha256 %s); validation %s", report["steps"], report["wall_s"],
             report["output"], report["sha256"], last)
    sys.stdout.write(json.dumps({k: v for k, v in report.items()}, indent=2) + "\n")
    return 0
