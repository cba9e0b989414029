"""The seed-0 measurements of docs/methods-inr-ceilings.md: what each INR parameterisation can reach at all.

    OMP_NUM_THREADS=1 python docs/inr_ceilings.py rank     # PSNR of the rank-L truncation of the truth, L = 2..12
    OMP_NUM_THREADS=1 python docs/inr_ceilings.py oracle   # lr-inr's U, V fitted to the truth (no k-space)
    OMP_NUM_THREADS=1 python docs/inr_ceilings.py steps    # CPU step time of each design next to a GRASP/LLR iteration
    OMP_NUM_THREADS=1 python docs/inr_ceilings.py run --trajectories radial --spokes 5 --configs refit=False refit=True
        # lr-inr as the chain runs it (stopped start, fit, refit), with each --configs
    OMP_NUM_THREADS=1 python docs/inr_ceilings.py compare --seed 1 --trajectories cartesian --pattern kt-gaussian
        # lr-inr beside its own warm start and the best classical method, on the chain's inputs
        # (--refine 10:0.1 ...: and after the classical refinement, docs/methods-inr-refinement.md)
    OMP_NUM_THREADS=1 python docs/inr_ceilings.py refine --seed 1 --trajectories radial --preset refined
        # lr-inr as the chain runs it, alone and refined (docs/methods-inr-refinement.md)

The inputs are those of the benches at seed 0 (``simulate --realistic``): Cartesian 160x160x16x10
kt-uniform R8 and radial 128x128x23x8 with 13 spokes, written as raw files and run through the embedded
chain (prewhitening, ESPIRiT ...) up to the method, whose inputs ``(data, coil maps)`` are kept
(:func:`chain_inputs`, cached under ``--cache``). Scores: the benches' protocols (kp-inr Cartesian,
da-inr radial). Only seed 0 is used here: the benches score seed 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inr_core.metrics import score

SETTINGS = {
    "cartesian": dict(trajectory="cartesian", pattern="kt-uniform", acceleration=8, frames=16, matrix=160, coils=10),
    "radial": dict(trajectory="radial", spokes=13, frames=23, matrix=128, coils=8),
}
PROTOCOL = {"cartesian": "kp-inr", "radial": "da-inr"}


def chain_inputs(name: str, seed: int = 0, cache: Path = Path("/tmp/inr-ceilings"), **changes):
    """``(data, coil_maps, truth, intensity)`` as the chain hands them to a method, for a bench setting at
    ``seed``; the chain multiplies a method's images by ``intensity`` (the prewhitening's spatial weight,
    ``gadgets.reconstruction``) before they are scored, and so does :func:`psnr`."""
    import gadgets.coil_maps
    from inr_core.methods.zero_filled import ZeroFilled
    from pipelines.commands.simulate import simulate_file
    from pipelines.files.ismrmrd_io import open_raw, read_reference
    from pipelines.streaming.host import Pipeline, default_pipeline

    setting = {**SETTINGS[name], **changes}
    tag = "_".join(f"{v}" for v in setting.values()) + f"_seed{seed}"
    saved = cache / f"{tag}.pt"
    if saved.exists():
        return torch.load(saved, weights_only=False)
    cache.mkdir(parents=True, exist_ok=True)
    raw_path = simulate_file(cache / f"{tag}.h5", seed=seed, realistic=True, force=True, **setting)
    kept = {}
    original, original_maps = ZeroFilled.reconstruct, gadgets.coil_maps.coil_maps_and_intensity

    def maps_and_intensity(*args, **kwargs):
        maps, kept["intensity"] = original_maps(*args, **kwargs)
        return maps, kept["intensity"]

    def keep(self, data, coil_maps, progress):
        kept["data"], kept["maps"] = data, coil_maps
        return original(self, data, coil_maps, progress)

    ZeroFilled.reconstruct, gadgets.coil_maps.coil_maps_and_intensity = keep, maps_and_intensity
    try:
        raw = open_raw(raw_path)
        pipeline = Pipeline.load(default_pipeline(raw.trajectory), {"method": "zero-filled"})
        list(pipeline.run(raw.header, raw.acquisitions()))
    finally:
        ZeroFilled.reconstruct, gadgets.coil_maps.coil_maps_and_intensity = original, original_maps
    truth = torch.from_numpy(read_reference(raw_path)[0])
    intensity = kept.get("intensity")
    out = (kept["data"], kept["maps"], truth, torch.ones(truth.shape[-2:]) if intensity is None else intensity)
    torch.save(out, saved)
    return out


def setting_inputs(args, name: str):
    """``(changes, chain inputs)`` of trajectory ``name`` under ``--pattern`` / ``--spokes`` at ``--seed``."""
    changes = {"pattern": args.pattern} if name == "cartesian" and args.pattern else {}
    if name == "radial" and args.spokes:
        changes["spokes"] = args.spokes
    return changes, chain_inputs(name, args.seed, args.cache, **changes)


def print_classical(args, name: str, label: str, data, maps, truth, intensity) -> None:
    """Score and print the trajectory's best classical method (LLR / GRASP, ``--classical-iterations``)."""
    from inr_core.methods import get_method

    classical = {"cartesian": "llr", "radial": "grasp"}[name]
    options = {"iterations": args.classical_iterations} if args.classical_iterations else {}
    cls = get_method(classical)
    start = time.process_time()
    p, s = psnr(cls(cls.make_config(**options))(data, maps), truth, name, intensity)
    print(f"{label}: {classical} {options or ''} {p:.2f} dB / {s:.4f} ({time.process_time() - start:.0f} s CPU)",
          flush=True)


def psnr(images, truth, name: str, intensity=None) -> tuple[float, float]:
    if intensity is not None:
        images = images * intensity.to(images.device)
    s = score(images, truth, PROTOCOL[name])["summary"]
    return s["psnr_mean"], s["ssim_mean"]


def rank_truncation(truth: torch.Tensor, rank: int) -> torch.Tensor:
    t = truth.shape[0]
    u, s, vh = torch.linalg.svd(truth.reshape(t, -1).T, full_matrices=False)
    return ((u[:, :rank] * s[:rank]) @ vh[:rank]).T.reshape(truth.shape)


def cmd_rank(args) -> None:
    for name in args.trajectories:
        _, _, truth, _ = chain_inputs(name, args.seed, args.cache)
        cells = []
        for rank in range(2, 13):
            p, s = psnr(rank_truncation(truth, rank), truth, name)
            cells.append(f"L={rank}: {p:.2f} dB / {s:.4f}")
        print(f"{name}: " + "; ".join(cells), flush=True)


def cmd_oracle(args) -> None:
    from inr_core.methods.inr.lr_inr import LrInr, oracle_fit

    for name in args.trajectories:
        _, maps, truth, intensity = chain_inputs(name, args.seed, args.cache)
        # the method's images are what the chain then multiplies by `intensity`: fit truth / intensity
        target = truth / torch.where(intensity > 0, intensity, torch.ones_like(intensity))
        for spec in args.configs:
            options = dict(item.split("=", 1) for item in spec.split(",") if item)
            cfg = LrInr.make_config(args.preset, **options)
            start = time.process_time()
            images = oracle_fit(target, maps, cfg)
            p, s = psnr(images, truth, name, intensity)
            print(f"{name} oracle {args.preset} {spec or '-'}: {p:.2f} dB / {s:.4f} "
                  f"({time.process_time() - start:.0f} s CPU, {cfg.steps} steps)", flush=True)


def cmd_steps(args) -> None:
    from inr_core.methods import get_method
    from inr_core.methods.inr.lr_inr import step_seconds

    for name in args.trajectories:
        data, maps, _, _ = chain_inputs(name, args.seed, args.cache)
        for classical in ("llr", "grasp"):
            cls = get_method(classical)
            iterations = 5
            start = time.process_time()
            cls(cls.make_config(iterations=iterations))(data, maps)
            print(f"{name} {classical}: {(time.process_time() - start) / iterations:.3f} s CPU per iteration "
                  f"({iterations} iterations, set-up included)", flush=True)
        for preset in args.step_presets:
            print(f"{name} lr-inr {preset}: {step_seconds(data, maps, preset):.3f} s CPU per step", flush=True)


def cmd_compare(args) -> None:
    """The best classical method (all data), lr-inr's warm start (the data less the held-out readouts) and
    lr-inr itself, on one setting; CPU seconds of each; the step honest stopping picked."""
    import resource

    from inr_core.methods.inr.holdout import split
    from inr_core.methods.inr.lr_inr import LrInr, resolved
    from inr_core.methods.inr.refine import refined

    for name in args.trajectories:
        changes, (data, maps, truth, intensity) = setting_inputs(args, name)
        label = f"{name} {changes or ''} seed {args.seed}"
        print_classical(args, name, label, data, maps, truth, intensity)
        for spec in args.configs:
            overrides = dict(item.split("=", 1) for item in spec.split(",") if item)
            method = LrInr(LrInr.make_config(args.preset, **overrides))
            start = time.process_time()
            fit_data, held = split(data, method.holdout(name), method.config.seed)
            warm, _ = method.start(fit_data, held, maps)  # stopped on the held-out readouts unless warm_stopped=False
            warm_seconds = time.process_time() - start
            trace = []

            def score_step(k, x, trace=trace, truth=truth, name=name, intensity=intensity):
                trace.append(psnr(x.detach(), truth, name, intensity))

            setting = "_".join(map(str, changes.values()))
            kept = args.cache / f"lr-inr_{name}_{setting}_seed{args.seed}_{args.preset}_{spec}.pt"
            if args.reuse_inr and kept.exists():  # the refinements of the same lr-inr run, measured again
                images, report, seconds = torch.load(kept, weights_only=False)
            else:
                images, report = method.refine(fit_data, held, maps, warm, trace=score_step if args.trace else None)
                seconds = time.process_time() - start
                if args.reuse_inr:
                    torch.save((images, report, seconds), kept)
            pw, sw = psnr(warm, truth, name, intensity)
            pi, si = psnr(images, truth, name, intensity)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{label}: lr-inr {args.preset} {spec or '-'}: warm start {pw:.2f} dB / {sw:.4f} "
                  f"({warm_seconds:.0f} s CPU); lr-inr {pi:.2f} dB / {si:.4f} ({seconds:.0f} s CPU in all), "
                  f"step {report.best_step} of {report.steps}; peak RSS so far {peak:.0f} MB", flush=True)
            if trace:
                steps = [k for k, _ in report.validation]
                print("   PSNR / SSIM by the truth at each validation (never used): "
                      + " ".join(f"{k}:{v[0]:.2f}/{v[1]:.4f}" for k, v in zip(steps, trace, strict=False)), flush=True)
            # the classical refinement (inr/refine.py) on all the data: the config's own, then each --refine
            refinements = [method.config] if method.config.refine_iterations else []
            for item in args.refine:
                iterations, pull, *solver = item.split(":")
                refinements.append(LrInr.make_config(args.preset, **overrides, refine_iterations=iterations,
                                                     refine_pull=pull, refine_with=solver[0] if solver else ""))
            for cfg in refinements:
                cfg = resolved(cfg, name)  # lr-inr's per-trajectory refine_with / refine_pull
                start = time.process_time()
                out = refined(images, data, maps, cfg)
                pr, sr = psnr(out, truth, name, intensity)
                print(f"{label}: lr-inr {args.preset} {spec or '-'} + refinement {cfg.refine_with} "
                      f"{cfg.refine_iterations} iterations pull {cfg.refine_pull:g}: {pr:.2f} dB / {sr:.4f} "
                      f"({pr - pi:+.2f} dB / {sr - si:+.4f} over lr-inr alone; refinement "
                      f"{time.process_time() - start:.0f} s CPU)", flush=True)


def cmd_refine(args) -> None:
    """An INR (``--method``, lr-inr by default) as the chain runs it (``Method(config)(data, maps)``: its own start
    and stopping, whatever they are), alone and after the classical refinement (``inr/refine.py``: the config's own,
    then each ``--refine``), beside the best classical method; CPU seconds of each (docs/methods-inr-refinement.md)."""
    from dataclasses import replace

    from inr_core.methods import get_method
    from inr_core.methods.inr.lr_inr import LrInr, resolved
    from inr_core.methods.inr.refine import DEFAULT_REFINER, refined

    for name in args.trajectories:
        changes, (data, maps, truth, intensity) = setting_inputs(args, name)
        label = f"{name} {changes or ''} seed {args.seed}"
        print_classical(args, name, label, data, maps, truth, intensity)
        for spec in args.configs:
            overrides = dict(item.split("=", 1) for item in spec.split(",") if item)
            inr = get_method(args.method)
            cfg = inr.make_config(args.preset, **overrides)
            start = time.process_time()
            alone = inr(replace(cfg, refine_iterations=0))(data, maps)
            seconds = time.process_time() - start
            pi, si = psnr(alone, truth, name, intensity)
            print(f"{label}: {args.method} {args.preset} {spec or '-'} alone: {pi:.2f} dB / {si:.4f} "
                  f"({seconds:.0f} s CPU)", flush=True)
            refinements = [cfg] if cfg.refine_iterations else []
            for item in args.refine:
                iterations, pull, *solver = item.split(":")
                refinements.append(inr.make_config(args.preset, **overrides, refine_iterations=iterations,
                                                   refine_pull=pull, refine_with=solver[0] if solver else ""))
            for each in refinements:
                each = resolved(each, name) if inr is LrInr else each  # lr-inr's per-trajectory refine_with / pull
                each.refine_with = each.refine_with or DEFAULT_REFINER[name]
                start = time.process_time()
                pr, sr = psnr(refined(alone, data, maps, each), truth, name, intensity)
                extra = time.process_time() - start
                print(f"{label}: {args.method} {args.preset} {spec or '-'} + refinement {each.refine_with} "
                      f"{each.refine_iterations} iterations pull {each.refine_pull:g}: {pr:.2f} dB / {sr:.4f} "
                      f"({pr - pi:+.2f} dB / {sr - si:+.4f} over {args.method} alone; refinement {extra:.0f} s CPU, "
                      f"{seconds + extra:.0f} s in all)", flush=True)


def cmd_run(args) -> None:
    """lr-inr as the chain runs it (``reconstruct``: its stopped start, fit, refit, refinement) with each
    ``--configs``: PSNR / SSIM and CPU seconds. E.g. ``--configs refit=False refit=True`` or
    ``warm_stopped=False,refit=False warm_stopped=True,refit=False``."""
    from inr_core.methods.inr.lr_inr import LrInr

    for name in args.trajectories:
        changes, (data, maps, truth, intensity) = setting_inputs(args, name)
        for spec in args.configs:
            overrides = dict(item.split("=", 1) for item in spec.split(",") if item)
            start = time.process_time()
            images = LrInr(LrInr.make_config(args.preset, **overrides))(data, maps)
            p, s = psnr(images, truth, name, intensity)
            print(f"{name} {changes or ''} seed {args.seed}: lr-inr {args.preset} {spec or '-'}: {p:.2f} dB / {s:.4f} "
                  f"({time.process_time() - start:.0f} s CPU)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("rank", "oracle", "steps", "compare", "refine", "run"))
    parser.add_argument("--trajectories", nargs="+", default=["cartesian", "radial"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/inr-ceilings"))
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--method", default="lr-inr", help="refine: the INR (lr-inr, da-inr, hash-inr, p-inr, kp-inr)")
    parser.add_argument("--configs", nargs="+", default=[""], help="key=value,... overrides of the lr-inr preset")
    parser.add_argument("--step-presets", nargs="+", default=["fast"])
    parser.add_argument("--pattern", default=None, help="Cartesian: kt-uniform (default) or kt-gaussian")
    parser.add_argument("--spokes", type=int, default=None, help="radial: spokes per frame (default 13)")
    parser.add_argument("--classical-iterations", type=int, default=0, help="compare, refine: 0 = the method's default")
    parser.add_argument("--trace", action="store_true", help="compare: PSNR by the truth at each validation")
    parser.add_argument("--reuse-inr", action="store_true",
                        help="compare: keep lr-inr's images under --cache and reuse them (to try refinements)")
    parser.add_argument("--refine", nargs="+", default=[], metavar="ITERATIONS:PULL[:SOLVER]",
                        help="compare, refine: also score lr-inr's image after each of these classical refinements")
    args = parser.parse_args()
    torch.set_num_threads(1)
    np.set_printoptions(precision=3)
    {"rank": cmd_rank, "oracle": cmd_oracle, "steps": cmd_steps, "compare": cmd_compare,
     "refine": cmd_refine, "run": cmd_run}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
