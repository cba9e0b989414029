"""The seed-0 measurements of docs/methods-da-inr.md ("Choosing the settings", "Full size, seed 0").

    OMP_NUM_THREADS=1 python docs/da_inr_selection.py MATRIX FRAMES COILS SPOKES SEED METHOD[,key=value...] ...
    OMP_NUM_THREADS=1 python docs/da_inr_selection.py 96 12 4 13 0 grasp da-inr,preset=fast
    OMP_NUM_THREADS=1 python docs/da_inr_selection.py 96 12 4 13 0 da-inr,preset=fast,features=random-mdsr --every 100

Simulates the realistic radial cine (``simulate --realistic``'s model) and calls each method directly
with the simulation's own coil maps (no prewhitening or ESPIRiT: ``bench radial`` measures the chain),
printing PSNR/SSIM (da-inr protocol) and the time. ``--every N`` (INRs) also prints the series'
PSNR every N steps of the fit, to see the convergence; it is never used to pick a step (the presets
fix the step counts). Only seed 0 chooses settings; other seeds score them.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from inr_core.data import RadialCine
from inr_core.methods import get_method
from inr_core.methods.inr.radial_image import time_rows
from inr_core.methods.inr.radial_loss import RadialProblem
from inr_core.metrics import score
from inr_core.simulate import Realism, simulate_cine


def parse(spec: str):
    name, *items = spec.split(",")
    options = dict(item.split("=", 1) for item in items)
    return name, options.pop("preset", None), options


def traced(method, truth, every: int):
    """Wrap the method module's ``fit`` so that it scores the series every ``every`` steps."""
    import importlib

    module = importlib.import_module(type(method).__module__)
    state, original_fit, original_from = {}, module.fit, RadialProblem.from_data

    def from_data(*args, **kwargs):
        state["problem"] = original_from(*args, **kwargs)
        return state["problem"]

    if hasattr(module, "neighbour_features"):  # keep the fit's own frozen features for the predictions
        original_features = module.neighbour_features

        def features(*args, **kwargs):
            state["features"] = original_features(*args, **kwargs)
            return state["features"]

        module.neighbour_features = features

    def fit(modules, loss_fn, cfg, progress, label, after_step=None, **kwargs):
        start = time.perf_counter()

        def hook(step):
            if (step + 1) % every:
                return
            net, problem = modules[0], state["problem"]
            if hasattr(net, "active_levels"):
                saved, net.active_levels = net.active_levels, None
                images = method.predict(net, problem, lambda xy, j, t: time_rows(xy, t))
                net.active_levels = saved
            else:
                images = method.predict(net, problem, method._output_rows(problem, state.get("features")))
            s = score(images, truth, "da-inr")["summary"]
            print(f"  step {step + 1}: PSNR {s['psnr_mean']:.2f} SSIM {s['ssim_mean']:.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

        return original_fit(modules, loss_fn, cfg, progress, label, after_step=hook, **kwargs)

    module.fit, RadialProblem.from_data = fit, staticmethod(from_data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("matrix", "frames", "coils", "spokes", "seed"):
        parser.add_argument(name, type=int)
    parser.add_argument("methods", nargs="+")
    parser.add_argument("--every", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sim = simulate_cine(args.matrix, args.frames, args.coils, 30.0, args.seed, trajectory="radial",
                        spokes=args.spokes, realism=Realism())
    data = RadialCine(kspace=sim.kspace, trajectory_k=sim.trajectory_k, image_shape=tuple(sim.images.shape[-2:]))
    for spec in args.methods:
        name, preset, options = parse(spec)
        cls = get_method(name)
        method = cls(cls.make_config(preset, **options))
        if args.every and name in ("da-inr", "hash-inr"):
            traced(method, sim.images, args.every)
        start = time.perf_counter()
        images = method(data, sim.coil_maps)
        seconds = time.perf_counter() - start
        s = score(images, sim.images, "da-inr")["summary"]
        print(f"{spec}: PSNR {s['psnr_mean']:.2f} SSIM {s['ssim_mean']:.4f} {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
