"""``gadgetron-inr bench``: speed, memory and quality of the reconstruction chain, measured.

``bench classical`` streams a simulated Cartesian cine (kt-Gaussian, R=8) and a golden-angle
radial cine through the full embedded chain (prewhitening, oversampling removal, buffering,
ESPIRiT, reconstruction, export) once per method, and reports per method and file:
PSNR/SSIM/NRMSE (mean ± std over frames; the kp-inr protocol for Cartesian, the da-inr protocol
for radial, as the papers score them), wall time of the whole chain, its CPU time (all threads, user
plus system) and the system (kernel) part of that, and peak memory (process resident set on the CPU;
``torch.cuda.max_memory_allocated`` on CUDA).
It writes ``results.md`` and ``results.json`` into ``--out-dir``. ``--pattern`` and
``--acceleration`` choose the Cartesian file; the files are the scanner-like simulation
(``simulate --realistic``), or the plain one with ``--no-realistic`` (as in ``bench cartesian``).
``--against bart`` adds rows of Debian's ``bart pics`` (locally low rank, temporal TV; BART's own
ESPIRiT maps as well on Cartesian data) on the same files, from the same k-space and coil maps,
with the wall time of every row relative to BART's LLR row (``pipelines.bench_bart``); without
``bart`` on the PATH they are skipped with one message.

``bench coils`` measures ESPIRiT on raw files that carry their true maps (``/reference/coil_maps``,
written by ``simulate``; default: the files in ``sample_data/``): the mean per-pixel
``|<s_est, s_true>|`` over the object and the time taken. The data go through oversampling removal
and the cine buffer but not prewhitening, whose maps are ``W s`` rather than ``s``.

``bench streaming``: latency from a slice's last readout to its first and last image (and preview),
streamed in real time through the loopback server or straight into the chain (``--via``), for the
first N slices of a stack (``--slices``) (``pipelines.bench_streaming``).

``bench cartesian``: the KP-INR paper's Table 1 and Figure 2 on simulated Cartesian cines, one per
sampling pattern and acceleration, every method in a fresh process (``pipelines.bench_cartesian``).

``bench radial``: the DA-INR paper's cardiac cine comparison on the realistic golden-angle radial
simulation (5, 13 and 21 spokes per frame), every method in a fresh process (``pipelines.bench_radial``).

``--preset NAME`` runs every method that has a preset of that name with it, the others with their
defaults; each result row records the preset actually used.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

from pipelines.errors import UserError

log = logging.getLogger(__name__)

CLASSICAL = ("zero-filled", "cg-sense", "l-plus-s", "grasp", "llr")
CARTESIAN = ("zero-filled", "cg-sense", "l-plus-s", "kt-grappa", "p-inr", "kp-inr")
# Simulated (matrix, frames, coils) per suite; the cartesian suite's are the KP-INR paper's setting.
SIZES = {"classical": (128, 12, 8), "cartesian": (160, 16, 10), "radial": (128, 23, 8), "gen-inr": (192, 4, 10)}
GPU_COILS = {"radial": 32}  # the DA-INR paper's 32-coil array where a GPU makes it affordable
RADIAL = ("zero-filled", "grasp", "l-plus-s", "hash-inr", "da-inr")
RADIAL_SPOKES = (5, 13, 21)
CARTESIAN_PATTERNS = ("kt-uniform", "kt-gaussian")
CARTESIAN_ACCELERATIONS = (4.0, 8.0)


def add_arguments(parser):
    from inr_core.sampling import PATTERNS

    parser.add_argument("suite", help="what to benchmark",
                        choices=("classical", "coils", "streaming", "cartesian", "radial", "hash-grid", "gen-inr"))
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"methods to run (default: classical and streaming {' '.join(CLASSICAL)}; "
                             f"cartesian {' '.join(CARTESIAN)}; radial {' '.join(RADIAL)})")
    parser.add_argument("--preset", metavar="NAME",
                        help="run each method that has this preset with it, the others with their defaults")

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
        args.methods = list({"cartesian": CARTESIAN, "radial": RADIAL}.get(args.suite, CLASSICAL))
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


def check_methods(names) -> None:
    from inr_core.methods import get_method

    for name in names:
        try:
            get_method(name)  # unknown names fail before any work is done
        except ValueError as exc:
            raise UserError(str(exc)) from None


def preset_for(method: str, preset: str | None) -> str:
    """The preset ``method`` runs with under ``--preset preset``: that one if it has it, else ``default``."""
    from inr_core.methods import get_method

    return preset if preset is not None and preset in get_method(method).presets else "default"


def method_properties(method: str, device: str, preset: str | None) -> dict[str, str]:
    """Chain properties that run ``method`` on ``device`` with the preset ``preset_for`` picks.

    No fallback: a benchmark measures the method itself, and a failure must be a failed row, not
    another method's images under its name."""
    used = preset_for(method, preset)
    return {"method": method, "device": device, "fallback": "none", **({"preset": used} if used != "default" else {})}


def warn_unused_preset(methods, preset: str | None) -> None:
    if preset is not None and preset != "default" and all(preset_for(m, preset) == "default" for m in methods):
        log.warning("bench: none of %s has a preset %r; all run with their defaults", ", ".join(methods), preset)


def _simulate(args, out_dir: Path) -> list[Path]:
    from pipelines.commands.simulate import simulate_file

    kind = "realistic_" if args.realistic else ""
    common = dict(frames=args.frames, matrix=args.matrix, coils=args.coils, seed=args.seed,
                  realistic=args.realistic, snr=args.snr, force=True)
    cart = simulate_file(out_dir / f"{kind}cartesian_{args.pattern.replace('-', '')}_R{args.acceleration:g}.h5",
                         pattern=args.pattern, acceleration=args.acceleration, **common)
    radial = [simulate_file(out_dir / f"{kind}radial_{spokes}spokes.h5", trajectory="radial", spokes=spokes, **common)
              for spokes in args.spokes]
    return [cart, *radial]


def _peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident set in MB; it only grows, so it measures one method per process.

    Linux's ``VmHWM`` (the high-water mark of the process's own memory since its last exec) where there
    is one: ``ru_maxrss`` also keeps the resident set the parent had when it forked a ``spawn``-ed
    child (measured: a child of a parent holding 1 GiB reported 1052 MB, VmHWM 15 MB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(raw_path: Path, method: str, device_name: str, out_dir: Path, preset: str | None = None,
            per_frame: bool = False) -> dict:
    """Replay one file with one method through the embedded chain; time it and score it.

    ``preset`` is used when ``method`` has it (the row's ``preset`` says which one ran). With
    ``per_frame``, the row also holds the per-frame ``psnr``/``ssim``/``nrmse`` lists.
    """
    import torch

    from inr_core.allocator import keep_freed_memory

    keep_freed_memory()  # the benches' spawned children do not pass through the command line

    from inr_core.device import resolve_device
    from inr_core.metrics import score as core_score
    from pipelines.commands.evaluate import load_pair, summarise
    from pipelines.files.ismrmrd_io import open_raw, write_images
    from pipelines.streaming.host import Pipeline, default_pipeline

    device = resolve_device(device_name)
    raw = open_raw(raw_path)
    used = preset_for(method, preset)
    pipeline = Pipeline.load(default_pipeline(raw.trajectory), method_properties(method, device_name, preset))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    start, cpu_start, system_start = time.perf_counter(), time.process_time(), _system_seconds()
    images = list(pipeline.run(raw.header, raw.acquisitions()))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    # CPU time of all the process's threads: on a loaded machine the wall time says more about the neighbours
    cpu_seconds = time.process_time() - cpu_start
    # the kernel's part of it (page faults and zeroing of freshly mapped memory, ...): docs/classical-methods.md
    system_seconds = _system_seconds() - system_start
    out = out_dir / f"{raw_path.stem}_{method}.h5"
    write_images(out, images, raw.header_xml)
    protocol = "kp-inr" if raw.trajectory == "cartesian" else "da-inr"
    recon, reference = load_pair(out, raw_path)
    frames = core_score(recon, reference, protocol)
    row = {"file": raw_path.name, "trajectory": raw.trajectory, "method": method, "preset": used,
           "seconds": seconds, "cpu_seconds": cpu_seconds, "system_seconds": system_seconds,
           "peak_memory_mb": _peak_memory_mb(device),
           "memory_kind": "cuda" if device.type == "cuda" else "rss", "device": str(device), "images": str(out),
           **summarise(frames, recon, protocol)}
    if per_frame:
        row.update({key: [float(v) for v in frames[key]] for key in ("psnr", "ssim", "nrmse")})
    return row


def _system_seconds() -> float:
    """Kernel CPU time of all this process's threads so far (with ``process_time``'s user time: its CPU time)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _cpu_columns(r: dict) -> str:
    """``CPU (s) | system (s) | system %`` of one row; BART rows (subprocesses) have none."""
    if "cpu_seconds" not in r:
        return " n/a | n/a | n/a |"
    share = 100 * r["system_seconds"] / r["cpu_seconds"] if r["cpu_seconds"] > 0 else 0.0
    return f" {r['cpu_seconds']:.1f} | {r['system_seconds']:.1f} | {share:.0f} |"


def markdown(rows: list[dict]) -> str:
    # The time ratio column appears only where BART rows give it (``--against bart``).
    ratios = any("time_vs_bart" in r for r in rows)
    lines = ["| file | method | PSNR (dB) | SSIM | NRMSE | time (s) | CPU (s) | system (s) | system % of CPU |"
             + (" time x BART LLR |" if ratios else "") + " peak memory (MB) |",
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if ratios else "") + "---|"]
    for r in rows:
        method = r["method"] if r.get("preset", "default") == "default" else f"{r['method']} ({r['preset']})"
        ratio = f" {r['time_vs_bart']:.2f} |" if "time_vs_bart" in r else (" |" if ratios else "")
        memory = "n/a" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.0f} ({r['memory_kind']})"
        lines.append(f"| {r['file']} | {method} | {r['psnr_mean']:.2f} ± {r['psnr_std']:.2f} | "
                     f"{r['ssim_mean']:.4f} ± {r['ssim_std']:.4f} | {r['nrmse_mean']:.4f} | {r['seconds']:.1f} |"
                     f"{_cpu_columns(r)}{ratio} {memory} |")
    return "\n".join(lines) + "\n"


def coil_agreement(raw_path: Path, device_name: str = "auto") -> dict:
    """ESPIRiT maps of one raw file against its true maps: agreement over the object, and time."""
    import torch

    from gadgets.front_end import cine_slices
    from inr_core.coils import estimate_coil_maps
    from inr_core.device import resolve_device
    from pipelines.files.ismrmrd_io import open_raw, read_h5

    raw = open_raw(raw_path)
    with read_h5(raw_path, "raw file") as f:
        if "reference" not in f or "coil_maps" not in f["reference"]:
            raise UserError(f"{raw_path}: no /reference/coil_maps to compare with")
        true_maps = torch.from_numpy(f["reference/coil_maps"][0].astype("complex64"))
        truth = torch.from_numpy(f["reference/images"][0].astype("complex64"))
    # The maps of the data as measured (no prewhitening), to compare with the simulation's; ESPIRiT timed alone.
    (cine,) = cine_slices(raw.header, raw.acquisitions(), prewhiten=False, coil_maps=False)
    device = resolve_device(device_name)
    start = time.perf_counter()
    maps = estimate_coil_maps(cine.data.to(device)).cpu()
    seconds = time.perf_counter() - start
    obj = truth.abs().amax(0) > 0.05 * truth.abs().max()
    inner = (maps.conj() * true_maps).sum(0).abs()
    return {"file": raw_path.name, "coils": int(maps.shape[0]), "matrix": list(maps.shape[1:]),
            "agreement_mean": float(inner[obj].mean()), "agreement_min": float(inner[obj].min()),
            "seconds": seconds}


def run_coils(args) -> int:
    files = [Path(p) for p in args.raw] if args.raw else sorted(Path("sample_data").glob("*.h5"))
    if not files:
        raise UserError("no raw files given and none found in sample_data/")
    rows = [coil_agreement(p, args.device) for p in files]
    lines = ["| file | coils | matrix | mean |<s_est, s_true>| | min | time (s) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['file']} | {r['coils']} | {r['matrix'][0]}x{r['matrix'][1]} | {r['agreement_mean']:.4f} | "
              f"{r['agreement_min']:.4f} | {r['seconds']:.2f} |" for r in rows]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "coils.json").write_text(json.dumps(rows, indent=2))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def run_classical(args) -> int:
    """``bench classical`` (``pipelines.bench_command`` chooses the suite, after ``resolve_defaults``)."""
    check_methods(args.methods)
    warn_unused_preset(args.methods, args.preset)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bart, ran_bart = None, False
    if args.against == "bart":
        from pipelines import bench_bart as bart

        ran_bart = bart.available()
    files = [Path(p) for p in args.raw] if args.raw else _simulate(args, out_dir)
    rows = []
    for raw_path in files:
        for method in args.methods:
            log.info("bench: %s with %s", raw_path.name, method)
            rows.append(run_one(raw_path, method, args.device, out_dir, preset=args.preset))
            r = rows[-1]
            log.info("bench: %s %s: %.2f dB, %.1f s (CPU %.1f s, system %.1f s)", r["file"], method,
                     r["psnr_mean"], r["seconds"], r["cpu_seconds"], r["system_seconds"])
        if bart is not None and ran_bart:
            rows += bart.rows_for(raw_path, out_dir)
    if bart is not None:
        bart.add_time_ratios(rows)
    table = markdown(rows) + (bart.note(ran_bart) if bart is not None else "")
    (out_dir / "results.md").write_text(table)
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2))
    sys.stdout.write(table)
    return 0
