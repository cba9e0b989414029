"""The measurements of docs/methods-da-inr.md, "Warm start from GRASP (issue 19 item 4)".

    OMP_NUM_THREADS=1 python docs/da_inr_warm.py run --seed 0 --spokes 13 da-inr,preset=warm --trace
    OMP_NUM_THREADS=1 python docs/da_inr_warm.py run --seed 1 --spokes 13 grasp grasp,holdout=0.05 da-inr,preset=fast
    OMP_NUM_THREADS=1 python docs/da_inr_warm.py split --seed 1 --spokes 13 grasp da-inr,preset=fast da-inr,preset=warm
    OMP_NUM_THREADS=1 python docs/da_inr_warm.py refine --seed 1 --spokes 13 da-inr,preset=fast da-inr,preset=warm

``run``: each method (``name[,preset=P][,key=value...]``; a classical method with ``holdout=f`` reconstructs
the data less the same held-out spokes DA-INR draws, i.e. DA-INR's warm start) on the inputs the bench chain
hands a method (``docs/inr_ceilings.py``'s ``chain_inputs``: realistic simulation 128x128x23x8, prewhitening,
ESPIRiT maps, the chain's intensity weight); PSNR / SSIM by the da-inr protocol, CPU seconds and the peak RSS
of this process (run one method per process for a per-method peak). The images are saved under ``--cache``
for ``split``. ``--trace`` (da-inr) prints PSNR / SSIM by the truth at each held-out validation: never read by
the method, it shows what the stopping rule chose from. Settings were chosen on seed 0 only.

``split``: where the error of each saved result lies, on the da-inr protocol's normalised magnitudes: outside
the ESPIRiT support (background), inside the phantom's heart box (``inr_core.phantom.phantom_geometry``: both
ventricles, from the phantom's geometry, not from any image) and the rest of the support; each region's share
of the series' mean squared error.

``refine``: each saved INR result after the classical refinement (issue 19 item 5, ``inr/refine.py``) at its
defaults and ``--refine-iterations`` (20), as ``--set refine_iterations=20`` would apply it to the same images.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inr_ceilings import chain_inputs, psnr  # noqa: E402

from inr_core.methods import get_method  # noqa: E402
from inr_core.methods.inr.holdout import split  # noqa: E402
from inr_core.metrics import prepare  # noqa: E402
from inr_core.phantom import phantom_geometry  # noqa: E402


def parse(spec: str):
    name, *items = spec.split(",")
    options = dict(item.split("=", 1) for item in items)
    return name, options.pop("preset", None), options


def saved_path(args, spec: str) -> Path:
    return args.cache / f"seed{args.seed}_spokes{args.spokes}_{spec.replace(',', '_').replace('=', '-')}.pt"


def cmd_run(args) -> None:
    data, maps, truth, intensity = chain_inputs("radial", args.seed, args.inputs, spokes=args.spokes)
    args.cache.mkdir(parents=True, exist_ok=True)
    for spec in args.methods:
        name, preset, options = parse(spec)
        cls = get_method(name)
        holdout = float(options.pop("holdout", 0)) if name != "da-inr" else 0.0
        method = cls(cls.make_config(preset, **options))
        trace: list[tuple[float, float]] = []
        if args.trace and name == "da-inr":
            method.trace = lambda x, trace=trace: trace.append(psnr(x, truth, "radial", intensity))
        start = time.process_time()
        fit_data = split(data, holdout, 0)[0] if holdout else data
        images = method(fit_data, maps)
        seconds = time.process_time() - start
        p, s = psnr(images, truth, "radial", intensity)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"seed {args.seed}, {args.spokes} spokes: {spec}: {p:.2f} dB / {s:.4f} ({seconds:.0f} s CPU; "
              f"peak RSS so far {peak:.0f} MB)", flush=True)
        if trace:
            every = method.config.validate_every
            print("   by the truth at each validation (never used): "
                  + " ".join(f"{k * every}:{v[0]:.2f}/{v[1]:.4f}" for k, v in enumerate(trace)), flush=True)
        torch.save(images, saved_path(args, spec))


def cmd_split(args) -> None:
    _, maps, truth, intensity = chain_inputs("radial", args.seed, args.inputs, spokes=args.spokes)
    support = ((maps.abs() ** 2).sum(0) > 1e-6).numpy()
    r0, r1, c0, c1 = phantom_geometry(tuple(truth.shape[-2:])).heart_box
    heart = np.zeros_like(support)
    heart[r0:r1, c0:c1] = True
    heart &= support
    regions = {"background": ~support, "heart": heart, "rest of support": support & ~heart}
    print(f"seed {args.seed}, {args.spokes} spokes: pixels: "
          + ", ".join(f"{k} {int(v.sum())}" for k, v in regions.items()), flush=True)
    for spec in args.methods:
        images = torch.load(saved_path(args, spec))
        rec, ref = prepare(images * intensity, truth, "da-inr")
        err = (rec - ref) ** 2
        total = float(err.mean())
        shares = {k: float(err[:, v].sum()) / err.size for k, v in regions.items()}
        print(f"  {spec}: series MSE {total:.3e} (PSNR of the series {10 * np.log10(1 / total):.2f} dB); "
              + ", ".join(f"{k} {v:.3e} ({100 * v / total:.0f}%)" for k, v in shares.items()), flush=True)


def cmd_refine(args) -> None:
    from inr_core.methods.inr.refine import refined

    data, maps, truth, intensity = chain_inputs("radial", args.seed, args.inputs, spokes=args.spokes)
    for spec in args.methods:
        name, preset, options = parse(spec)
        cfg = get_method(name).make_config(preset, **options, refine_iterations=args.refine_iterations)
        images = torch.load(saved_path(args, spec))
        start = time.process_time()
        out = refined(images, data, maps, cfg)
        seconds = time.process_time() - start
        alone, after = psnr(images, truth, "radial", intensity), psnr(out, truth, "radial", intensity)
        print(f"seed {args.seed}, {args.spokes} spokes: {spec}: alone {alone[0]:.2f} dB / {alone[1]:.4f}; refined "
              f"({cfg.refine_with or 'default'}, {cfg.refine_iterations} it., pull {cfg.refine_pull}) "
              f"{after[0]:.2f} dB / {after[1]:.4f} ({seconds:.0f} s CPU)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("run", "split", "refine"))
    parser.add_argument("methods", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spokes", type=int, default=13)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--refine-iterations", type=int, default=20)
    parser.add_argument("--inputs", type=Path, default=Path("/tmp/inr-ceilings"), help="chain_inputs' cache")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/da-inr-warm"), help="saved images (split)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"run": cmd_run, "split": cmd_split, "refine": cmd_refine}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
