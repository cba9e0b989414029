"""The options of ``gadgetron-inr bench SUITE`` (one parser for every suite) and their per-suite defaults.

The default methods come from the method registry (``inr_core.methods.list_methods``): every method that
reconstructs the suite's trajectory, so a new method joins the benches without an edit here. ``classical``
and ``streaming`` run the classical methods that take both trajectories (they stream a Cartesian and a
radial file through the chain); ``gen-inr`` is left out of ``cartesian`` because it has its own suite
(``bench gen-inr``: it is trained, at its own matrix), and ``--methods gen-inr`` still runs it there.
"""

from __future__ import annotations

import argparse

from pipelines.benches.suite import is_inr

SUITES = ("classical", "coils", "streaming", "cartesian", "radial", "hash-grid", "gen-inr")
# Simulated (matrix, frames, coils) per suite; the cartesian suite's are the KP-INR paper's setting.
SIZES = {"classical": (128, 12, 8), "cartesian": (160, 16, 10), "radial": (128, 23, 8), "gen-inr": (192, 4, 10)}
GPU_COILS = {"radial": 32}  # the DA-INR paper's 32-coil array where a GPU makes it affordable
RADIAL_SPOKES = (5, 13, 21)
CARTESIAN_PATTERNS = ("kt-uniform", "kt-gaussian")
CARTESIAN_ACCELERATIONS = (4.0, 8.0)
OWN_SUITE = ("gen-inr",)  # methods benchmarked by a suite of their own, not by default in the others
# Extra default rows: a classical method at another preset where its default is far from its best on some
# settings (GRASP's 60 iterations are its best at 13 spokes and 6 dB short of it at 5, grasp.py), so every INR
# meets the classical method at its better setting per file.
EXTRA_ROWS = {"radial": ("grasp@converged",)}


def default_methods(suite: str) -> list[str]:
    """The registered methods ``suite`` runs without ``--methods``: zero-filled (the baseline) first, then the
    classical methods, then the INRs, each group in the registry's (alphabetical) order."""
    from inr_core.methods import list_methods

    if suite in ("cartesian", "radial"):
        names = [m.name for m in list_methods() if suite in m.trajectories and m.name not in OWN_SUITE]
    else:
        names = [m.name for m in list_methods()
                 if {"cartesian", "radial"} <= set(m.trajectories) and not is_inr(m.name)]
    names += [spec for spec in EXTRA_ROWS.get(suite, ()) if spec.split("@")[0] in names]
    return sorted(names, key=lambda name: (is_inr(name), name != "zero-filled"))


def add_arguments(parser):
    from inr_core.sampling import PATTERNS

    parser.add_argument("suite", help="what to benchmark", choices=SUITES)
    parser.add_argument("--methods", nargs="+", default=None,
                        help="methods to run (default: the registered methods for the suite: cartesian and radial "
                             "those that reconstruct that trajectory, gen-inr aside; classical and streaming the "
                             "classical methods that take both trajectories; `gadgetron-inr methods` lists them)")
    parser.add_argument("--preset", metavar="NAME",
                        help="run each method that has this preset with it, the others with their defaults; "
                             "a --methods entry NAME@PRESET runs that method with that preset whatever --preset says "
                             "(e.g. grasp@converged)")
    parser.add_argument("--warm-starts", action=argparse.BooleanOptionalAction, default=True,
                        help="cartesian, radial: also run each INR that has a `start` preset with it (its classical "
                             "start alone, step 0), so the INR is set beside its own start (default: on)")

    def per_suite(i: int) -> str:
        return ", ".join(f"{suite} {size[i]}" for suite, size in SIZES.items())

    parser.add_argument("--matrix", type=int, default=None, help=f"simulated image size (default: {per_suite(0)})")
    parser.add_argument("--frames", type=int, default=None, help=f"simulated frames (default: {per_suite(1)})")
    parser.add_argument("--coils", type=int, default=None,
                        help=f"simulated coils (default: {per_suite(2)}; radial {GPU_COILS['radial']} on cuda)")
    parser.add_argument("--acceleration", type=float, default=8,
                        help="classical: Cartesian acceleration (default 8)")
    parser.add_argument("--pattern", choices=tuple(PATTERNS), default="kt-gaussian",
                        help="classical: Cartesian sampling pattern (default kt-gaussian)")
    parser.add_argument("--realistic", action=argparse.BooleanOptionalAction, default=True,
                        help="classical, cartesian: simulate scanner-like data (simulate --realistic, the default; "
                             "--no-realistic for the plain simulation, whose noise --snr sets)")
    parser.add_argument("--against", choices=("bart",), default=None,
                        help="classical: add BART pics rows (LLR, temporal TV) on the same data and coil maps")
    parser.add_argument("--patterns", nargs="+", choices=tuple(PATTERNS), default=list(CARTESIAN_PATTERNS),
                        help=f"cartesian: sampling patterns (default {' '.join(CARTESIAN_PATTERNS)})")
    parser.add_argument("--accelerations", nargs="+", type=float, default=list(CARTESIAN_ACCELERATIONS),
                        metavar="R", help="cartesian: accelerations (default 4 8)")
    parser.add_argument("--spokes", type=int, nargs="+", default=None,
                        help=f"radial spokes per frame, one radial file each (default 13; radial "
                             f"{' '.join(map(str, RADIAL_SPOKES))})")
    parser.add_argument("--snr", type=float, default=30.0,
                        help="with --no-realistic: simulated image SNR (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--raw", nargs="+", metavar="RAW.h5",
                        help="classical, coils, streaming: benchmark these raw files (with /reference/images) "
                             "instead of simulating")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out-dir", "--out", default="out/bench",
                        help="where results and images go (default out/bench; the cartesian suite writes into "
                             "its cartesian/ subfolder)")
    parser.add_argument("--speed", type=float, default=1.0, help="streaming: real-time playback speed (default 1)")
    parser.add_argument("--slices", type=int, nargs="+", default=None, metavar="N",
                        help="streaming: the first N slices of each raw file (a stack from simulate --slices), "
                             "one run per N")
    parser.add_argument("--via", choices=("server", "chain"), default="server",
                        help="streaming: emulator -> loopback server (default; it reads a scan to its end first) or "
                             "the readouts straight into the chain in this process, as a Gadgetron node gets them")
    parser.add_argument("--preview", metavar="METHOD",
                        help="streaming: the chain also sends METHOD's images first (a preview series); its "
                             "latency is reported too")


def resolve_defaults(args) -> None:
    """Fill in the per-suite defaults of ``--methods``, ``--matrix``, ``--frames``, ``--coils`` and ``--spokes``."""
    if args.methods is None:
        args.methods = default_methods(args.suite)
    if args.spokes is None:
        args.spokes = list(RADIAL_SPOKES if args.suite == "radial" else (13,))
    matrix, frames, coils = SIZES.get(args.suite, SIZES["classical"])
    if args.suite in GPU_COILS and _on_cuda(args.device):
        coils = GPU_COILS[args.suite]
    args.matrix = matrix if args.matrix is None else args.matrix
    args.frames = frames if args.frames is None else args.frames
    args.coils = coils if args.coils is None else args.coils


def _on_cuda(device: str) -> bool:
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device == "cuda"


