"""``gadgetron-inr bench cartesian``: the KP-INR paper's Table 1 and Figure 2 on simulated cines.

What it measures: for every sampling setting (``--patterns`` x ``--accelerations``, default
kt-uniform and kt-Gaussian at R = 4 and 8) one Cartesian cine is simulated
(``pipelines.commands.simulate.simulate_file``, the same seed for all, so every setting undersamples the same
object; default 160x160, 16 frames, 10 coils; ``--realistic`` for the scanner-like simulation),
and every method in ``--methods`` reconstructs it through the full embedded chain (prewhitening,
oversampling removal, buffering, ESPIRiT, reconstruction, export), as ``bench classical`` does.
Per method and setting it reports:

- PSNR and SSIM, mean ± std over frames, under the kp-inr protocol (``inr_core.metrics``: magnitudes,
  central half of the rows, recon and reference divided by the reference maximum);
- the p-value of a two-sided Wilcoxon signed-rank test of the method's per-frame PSNR (and SSIM)
  against kp-inr's per-frame values on the same file -- against the last method given when kp-inr
  is not among them. No p-value (``null`` with a reason) for the reference method itself, when the
  reference method failed, or when the paired values are identical or not finite;
- wall time of the whole chain and peak memory.

How: every (file, method) run happens in a fresh ``spawn``-ed child process, because the peak
resident set (``pipelines.bench.peak_rss_mb``) only grows within a process: measured in one process, every method
after the hungriest would report that method's peak. On the CPU the peak is the child's resident
set, which includes the libraries it imported (recorded separately as ``baseline_memory_mb``, the
peak before the chain runs); on CUDA it is ``torch.cuda.max_memory_allocated``. The wall time is
taken inside the child around the chain alone (not the process start or the imports), but a fresh
process pays first-call set-up costs in it, the same for every method.

A run that fails (an exception in the method, or the child process dying) becomes a row with its
``error`` and a ``failed: ...`` cell; the benchmark goes on, logs a warning and exits 0, unless
every run failed.

Writes into ``<out-dir>/cartesian/``: the simulated raw files and reconstructed images,
``cartesian.md`` (printed to stdout too), ``cartesian.json`` (every row, per-frame PSNR/SSIM/NRMSE
included; non-finite numbers as ``null``) and per setting ``figure_<pattern>_R<R>.png``: a
mid-cycle frame per method and of the reference, the x-t profile through the heart and the error
map, all after the kp-inr normalisation and on one grey scale.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from pipelines.errors import UserError

log = logging.getLogger(__name__)

REFERENCE_METHOD = "kp-inr"
ERROR_GAIN = 5  # error maps are shown on [0, 1/ERROR_GAIN] of the normalised reference's [0, 1]


def setting_key(pattern: str, acceleration: float) -> str:
    return f"{pattern}_R{acceleration:g}"


def setting_label(pattern: str, acceleration: float) -> str:
    return f"{pattern} R={acceleration:g}"


def reference_method(methods) -> str:
    return REFERENCE_METHOD if REFERENCE_METHOD in methods else methods[-1]


# -- running ----------------------------------------------------------------------------------------------------

def _check(args) -> None:
    if args.raw:
        raise UserError("--raw does not apply to bench cartesian: it simulates one file per pattern and acceleration")
    for r in args.accelerations:
        if not 1 <= r <= args.matrix / 4:
            raise UserError(f"--accelerations must be between 1 and {args.matrix // 4} for --matrix {args.matrix}, "
                            f"got {r:g}")
        if r != int(r) and any(p != "kt-gaussian" for p in args.patterns):
            raise UserError(f"--accelerations must be whole numbers for {', '.join(args.patterns)}, got {r:g}")


def simulate_settings(args, out_dir: Path) -> list[dict]:
    from pipelines.commands.simulate import simulate_file

    kind = "realistic_" if args.realistic else ""
    settings = []
    for pattern in args.patterns:
        for r in args.accelerations:
            path = out_dir / f"{kind}cartesian_{setting_key(pattern, r)}.h5"
            log.info("bench cartesian: simulating %s", path.name)
            simulate_file(path, pattern=pattern, acceleration=r, frames=args.frames, matrix=args.matrix,
                          coils=args.coils, seed=args.seed, realistic=args.realistic, snr=args.snr, force=True)
            settings.append({"pattern": pattern, "acceleration": r, "raw": path})
    return settings


def _job(raw_path: Path, method: str, preset: str | None, device: str, out_dir: Path, log_level: int) -> dict:
    """One run in the child process; exceptions come back as the row's ``error``."""
    import traceback

    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        # Imported before the baseline is read, so the baseline holds the libraries every run loads.
        import sigpy.mri  # noqa: F401 -- ESPIRiT imports it lazily, which would land in the timed chain

        import inr_core.methods  # noqa: F401
        import pipelines.streaming.host  # noqa: F401
        from pipelines.bench import peak_rss_mb, run_one

        baseline = peak_rss_mb()
        row = run_one(raw_path, method, device, out_dir, preset=preset, per_frame=True)
        if row["memory_kind"] == "rss":
            row["baseline_memory_mb"] = baseline
        row["error"] = None
        return row
    except Exception as exc:  # any failure of one method must reach the table, not end the benchmark
        log.debug("%s with %s failed:\n%s", raw_path.name, method, traceback.format_exc())
        return {"error": one_line(exc)}


def run_job(raw_path: Path, method: str, preset: str | None, device: str, out_dir: Path) -> dict:
    """Run ``method`` on ``raw_path`` in a fresh child process (see the module docstring for why)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from pipelines.bench import preset_for

    row = {"file": raw_path.name, "method": method, "preset": preset_for(method, preset)}
    level = logging.DEBUG if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    try:
        # A new pool per run: one process per run, and a run whose process dies cannot break the next one.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result = pool.submit(_job, raw_path, method, preset, device, out_dir, level).result()
    except Exception as exc:  # e.g. BrokenProcessPool when the child is killed for memory
        result = {"error": f"worker process failed: {one_line(exc) or type(exc).__name__}"}
    row.update(result)
    return row


def one_line(exc_or_text) -> str:
    text = str(exc_or_text).strip()
    if isinstance(exc_or_text, BaseException) and not text:
        text = type(exc_or_text).__name__
    return text.splitlines()[0] if text else ""


# -- statistics ---------------------------------------------------------------------------------------------------

def paired_test(values, against) -> tuple[float | None, str | None]:
    """Two-sided Wilcoxon signed-rank p-value of paired per-frame values, or (None, why not)."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(values, dtype=float), np.asarray(against, dtype=float)
    if a.shape != b.shape:
        return None, f"different frame counts ({a.size} and {b.size})"
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None, "non-finite per-frame values"
    if not np.any(a != b):
        return None, "identical per-frame values"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about ties and small samples; the p-value is still its answer
        try:
            p = float(wilcoxon(a, b, alternative="two-sided").pvalue)
        except ValueError as exc:
            return None, one_line(exc)
    if not math.isfinite(p):
        return None, "test undefined for these values"
    return p, None


def add_comparisons(rows: list[dict], against: str) -> None:
    """Set ``compared_with``, ``p_psnr``/``p_ssim`` and their ``*_reason`` on every successful row."""
    by_file = {r["file"]: r for r in rows if r["method"] == against}
    for r in rows:
        if r.get("error"):
            continue
        r["compared_with"] = against
        other = by_file.get(r["file"])
        for key in ("psnr", "ssim"):
            if r["method"] == against:
                p, reason = None, "reference method"
            elif other is None or other.get("error"):
                p, reason = None, f"{against} failed on this file" if other else f"{against} did not run"
            else:
                p, reason = paired_test(r[key], other[key])
            r[f"p_{key}"], r[f"p_{key}_reason"] = p, reason


# -- tables ------------------------------------------------------------------------------------------------------

def failure_cell(error: str, width: int = 100) -> str:
    """``failed: <first line of the error>``, safe inside a markdown table cell."""
    line = one_line(error).replace("|", "\\|")
    if len(line) > width:
        line = line[:width - 3] + "..."
    return f"failed: {line}"


def _p_cell(p, reason) -> str:
    if p is None:
        return "—" if reason == "reference method" else f"n/a ({reason})"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


KP_INR_PROTOCOL = ("kp-inr protocol (magnitudes, central half of the rows, recon and reference divided by the "
                   "reference maximum)")


def markdown(rows: list[dict], settings: list[dict], methods: list[str], against: str, info: str = "") -> str:
    columns = [(s["raw"].name, setting_label(s["pattern"], s["acceleration"])) for s in settings]
    return comparison_tables(rows, columns, methods, against, "Cartesian cine benchmark (KP-INR paper, Table 1 layout)",
                             KP_INR_PROTOCOL, info)


def comparison_tables(rows: list[dict], columns: list[tuple[str, str]], methods: list[str], against: str, title: str,
                      protocol: str, info: str = "") -> str:
    """Quality (with the Wilcoxon p-values) and time/memory tables: a row per method, a column group per
    ``(raw file name, label)`` in ``columns``; ``protocol`` says how the images were scored."""
    cell = {(r["file"], r["method"]): r for r in rows}
    presets = {r["method"]: r["preset"] for r in rows}
    lines = [f"# {title}", ""]
    if info:
        lines += [info, ""]
    lines += [f"PSNR (dB) and SSIM: mean ± std over frames, {protocol}. "
              f"p vs {against}: two-sided Wilcoxon signed-rank test of the per-frame values against {against}'s "
              "on the same file, PSNR / SSIM.", ""]
    header = ["method", "preset"]
    for _, label in columns:
        header += [f"{label} PSNR", f"{label} SSIM", f"{label} p vs {against}"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        out = [method, presets.get(method, "default")]
        for name, _ in columns:
            r = cell.get((name, method))
            if r is None:
                out += ["—", "—", "—"]
            elif r.get("error"):
                out += [failure_cell(r["error"]), "—", "—"]
            else:
                out += [f"{r['psnr_mean']:.2f} ± {r['psnr_std']:.2f}", f"{r['ssim_mean']:.4f} ± {r['ssim_std']:.4f}",
                        f"{_p_cell(r['p_psnr'], r['p_psnr_reason'])} / {_p_cell(r['p_ssim'], r['p_ssim_reason'])}"]
        lines.append("| " + " | ".join(out) + " |")

    lines += inr_versus_classical(rows, columns, methods)
    baselines = [r["baseline_memory_mb"] for r in rows if r.get("baseline_memory_mb") is not None]
    lines += ["", "## Time and memory", "",
              "Wall time (s) of the whole chain (ESPIRiT included), each run in a fresh process. Peak memory (MB): "
              "the process's peak resident set (rss"
              + (f"; {min(baselines):.0f} MB or more of it are the loaded libraries, before the chain ran"
                 if baselines else "")
              + ") or torch.cuda.max_memory_allocated (cuda).", ""]
    header = ["method"]
    for _, label in columns:
        header += [f"{label} time (s)", f"{label} peak memory (MB)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        out = [method]
        for name, _ in columns:
            r = cell.get((name, method))
            if r is None or r.get("error"):
                out += ["failed" if r else "—", "—"]
            else:
                out += [f"{r['seconds']:.1f}", f"{r['peak_memory_mb']:.0f} {r['memory_kind']}"]
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def is_inr(method: str) -> bool:
    """A scan-specific or trained INR (a method under ``inr_core.methods.inr``), not a classical method."""
    from inr_core.methods import get_method

    try:
        return get_method(method).__module__.startswith("inr_core.methods.inr")
    except ValueError:  # not a registered method (a test's stand-in): neither side of the comparison
        return False


def _registered(method: str) -> bool:
    from inr_core.methods import get_method

    try:
        get_method(method)
        return True
    except ValueError:
        return False


def inr_versus_classical(rows: list[dict], columns: list[tuple[str, str]], methods: list[str]) -> list[str]:
    """Lines: each INR beside the best classical method of the same run and file (highest mean PSNR),
    with the PSNR and SSIM differences; nothing when the run has no INR or no classical method."""
    inrs = [m for m in methods if is_inr(m)]
    classical = [m for m in methods if not is_inr(m) and _registered(m)]
    if not inrs or not classical:
        return []
    cell = {(r["file"], r["method"]): r for r in rows if not r.get("error")}
    lines = ["", "## Each INR against the best classical method of this run", "",
             "Best classical: the classical method with the highest mean PSNR on that file; differences are INR minus "
             "it (dB, SSIM).", "",
             "| setting | INR | PSNR | SSIM | best classical | its PSNR | its SSIM | ΔPSNR | ΔSSIM |", "|" + "---|" * 9]
    for name, label in columns:
        done = [m for m in classical if (name, m) in cell]
        if not done:
            continue
        best = max(done, key=lambda m: cell[(name, m)]["psnr_mean"])
        b = cell[(name, best)]
        for m in inrs:
            r = cell.get((name, m))
            if r is None:
                lines.append(f"| {label} | {m} | failed or not run | — | {best} | {b['psnr_mean']:.2f} | "
                             f"{b['ssim_mean']:.4f} | — | — |")
                continue
            lines.append(f"| {label} | {m} | {r['psnr_mean']:.2f} | {r['ssim_mean']:.4f} | {best} | "
                         f"{b['psnr_mean']:.2f} | {b['ssim_mean']:.4f} | {r['psnr_mean'] - b['psnr_mean']:+.2f} | "
                         f"{r['ssim_mean'] - b['ssim_mean']:+.4f} |")
    return lines


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# -- figure ------------------------------------------------------------------------------------------------------

def write_figure(path: Path, raw_path: Path, rows: list[dict], title: str = "") -> Path:
    """Figure-2 layout for one setting: a mid-cycle frame, the x-t profile through the heart and the
    error map per method (columns), the reference first; kp-inr normalisation, one grey scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inr_core.metrics import prepare
    from pipelines.commands.evaluate import load_pair
    from pipelines.files.ismrmrd_io import read_reference
    from pipelines.files.preview import heart_pixel

    reference = np.abs(read_reference(raw_path))
    reference = reference.reshape(-1, *reference.shape[-2:])
    _, ref = prepare(reference, reference, "kp-inr")
    frame = ref.shape[0] // 2  # mid-cycle, the same frame for every method
    row, _ = heart_pixel(ref)  # from the reference, so every method's profile runs through the same pixels
    image_row = row + reference.shape[1] // 4  # the protocol dropped the first quarter of the rows
    columns: list[tuple[str, np.ndarray | None, dict | None]] = [("reference", ref, None)]
    for r in rows:
        images = None
        if not r.get("error"):
            images, _ = prepare(*load_pair(r["images"], raw_path), "kp-inr")
        columns.append((r["method"], images, r))

    fig, axes = plt.subplots(3, len(columns), figsize=(2.1 * len(columns), 6.9), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for j, (name, images, r) in enumerate(columns):
        top, middle, bottom = axes[:, j]
        if images is None:
            top.text(0.5, 0.5, "\n".join(_wrap(failure_cell(r["error"], 200), 24)[:8]), ha="center", va="center",
                     fontsize=6, transform=top.transAxes)
            top.set_title(name, fontsize=8)
            middle.axis("off")
            bottom.axis("off")
            continue
        top.imshow(images[frame], cmap="gray", vmin=0, vmax=1)
        top.set_title(f"{name}" + (f" ({r['preset']})" if r and r["preset"] != "default" else ""), fontsize=8)
        middle.imshow(images[:, row, :].T, cmap="gray", vmin=0, vmax=1, aspect="auto")
        middle.set_title(f"x-t at row {image_row} (line)", fontsize=7)
        if r is None:
            top.axhline(row, color="y", lw=0.5)
            bottom.text(0.5, 0.5, f"|recon - reference|\nx{ERROR_GAIN}: grey scale\n0 to {1 / ERROR_GAIN:g}",
                        ha="center", va="center", fontsize=7, transform=bottom.transAxes)
            bottom.axis("off")
            continue
        bottom.imshow(np.abs(images[frame] - ref[frame]), cmap="gray", vmin=0, vmax=1 / ERROR_GAIN)
        psnr = r["psnr"][frame]
        bottom.set_title(f"{name}: {psnr:.2f} dB\n|error| x{ERROR_GAIN}", fontsize=7)
    fig.suptitle(f"{title}\nframe {frame} of {ref.shape[0]}; kp-inr normalisation (reference maximum = 1)".strip(),
                 fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


# -- the command ----------------------------------------------------------------------------------------------------

def run_cartesian(args) -> int:
    from pipelines.bench import check_methods, warn_unused_preset

    check_methods(args.methods)
    if len(set(args.methods)) < len(args.methods):  # rows are keyed by (file, method): a repeat would hide one
        log.warning("bench cartesian: methods given twice run once")
        args.methods = list(dict.fromkeys(args.methods))
    _check(args)
    warn_unused_preset(args.methods, args.preset)
    out_dir = Path(args.out_dir) / "cartesian"
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = simulate_settings(args, out_dir)
    against = reference_method(args.methods)

    rows = []
    total = len(settings) * len(args.methods)
    for s in settings:
        for method in args.methods:
            log.info("bench cartesian [%d/%d]: %s with %s", len(rows) + 1, total,
                     setting_label(s["pattern"], s["acceleration"]), method)
            r = {"pattern": s["pattern"], "acceleration": s["acceleration"],
                 **run_job(s["raw"], method, args.preset, args.device, out_dir)}
            rows.append(r)
            if r["error"]:
                log.warning("bench cartesian: %s with %s failed: %s", s["raw"].name, method, r["error"])
            else:
                log.info("bench cartesian: %s %s: %.2f dB, SSIM %.4f, %.1f s, %.0f MB %s", s["raw"].name, method,
                         r["psnr_mean"], r["ssim_mean"], r["seconds"], r["peak_memory_mb"], r["memory_kind"])
    add_comparisons(rows, against)

    for s in settings:
        key = setting_key(s["pattern"], s["acceleration"])
        figure = write_figure(out_dir / f"figure_{key}.png", s["raw"], [r for r in rows if r["file"] == s["raw"].name],
                              title=f"{setting_label(s['pattern'], s['acceleration'])}, {args.matrix}x{args.matrix}, "
                                    f"{args.frames} frames, {args.coils} coils")
        log.info("bench cartesian: wrote %s", figure)

    devices = sorted({r["device"] for r in rows if not r.get("error")})
    preset = f"preset {args.preset} where a method has it" if args.preset else "default presets"
    info = (f"Simulated cine: {args.matrix}x{args.matrix}, {args.frames} frames, {args.coils} coils, SNR {args.snr:g}, "
            f"seed {args.seed}; {preset}; device {', '.join(devices) or args.device}.")
    table = markdown(rows, settings, args.methods, against, info)
    (out_dir / "cartesian.md").write_text(table)
    document = {"suite": "cartesian", "matrix": args.matrix, "frames": args.frames, "coils": args.coils,
                "snr": args.snr, "seed": args.seed, "preset": args.preset, "compared_with": against,
                "protocol": "kp-inr", "test": "two-sided Wilcoxon signed-rank, per-frame values",
                "settings": [{**s, "raw": str(s["raw"])} for s in settings], "rows": rows}
    (out_dir / "cartesian.json").write_text(json.dumps(_finite_or_none(document), indent=2, allow_nan=False))
    sys.stdout.write(table)

    check_failures(rows, out_dir / "cartesian.md", "bench cartesian")
    return 0


def check_failures(rows: list[dict], table: Path, suite: str) -> None:
    """A warning naming the failed runs; a ``UserError`` when every run failed."""
    failed = [r for r in rows if r["error"]]
    if failed and len(failed) == len(rows):
        raise UserError(f"every run failed (first: {failed[0]['method']} on {failed[0]['file']}: "
                        f"{failed[0]['error']}); see {table}")
    if failed:
        log.warning("%s: %d of %d runs failed: %s", suite, len(failed), len(rows),
                    "; ".join(f"{r['method']} on {r['file']}" for r in failed))
