"""``gadgetron-inr bench classical`` and ``bench coils``, with an overview of the other suites: speed, memory
and quality of the reconstruction chain, measured.

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
with the wall time of every row relative to BART's LLR row (``pipelines.benches.bart``); without
``bart`` on the PATH they are skipped with one message.

``bench coils`` measures ESPIRiT on raw files that carry their true maps (``/reference/coil_maps``,
written by ``simulate``; default: the files in ``sample_data/``): the mean per-pixel
``|<s_est, s_true>|`` over the object and the time taken. The data go through oversampling removal
and the cine buffer but not prewhitening, whose maps are ``W s`` rather than ``s``.

``bench streaming``: latency from a slice's last readout to its first and last image (and preview),
streamed in real time through the loopback server or straight into the chain (``--via``), for the
first N slices of a stack (``--slices``) (``pipelines.benches.streaming``).

``bench cartesian``: the KP-INR paper's Table 1 and Figure 2 on simulated Cartesian cines, one per
sampling pattern and acceleration, every method in a fresh process (``pipelines.benches.cartesian``).

``bench radial``: the DA-INR paper's cardiac cine comparison on the realistic golden-angle radial
simulation (5, 13 and 21 spokes per frame), every method in a fresh process (``pipelines.benches.radial``).

``--preset NAME`` runs every method that has a preset of that name with it, the others with their
defaults; each result row records the preset actually used.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from pipelines.benches.suite import check_methods, run_one, warn_unused_preset
from pipelines.errors import UserError

log = logging.getLogger(__name__)


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
    """``bench classical`` (``pipelines.benches.command`` chooses the suite, after ``resolve_defaults``)."""
    check_methods(args.methods)
    warn_unused_preset(args.methods, args.preset)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bart, ran_bart = None, False
    if args.against == "bart":
        from pipelines.benches import bart

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
