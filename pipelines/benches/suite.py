"""The shape every comparison suite of ``gadgetron-inr bench`` shares (``cartesian``, ``radial``; the methods
helpers also serve ``classical`` and ``streaming``): the methods a suite runs and with which preset, one
run through the embedded chain timed and scored (``run_one``), each run in a fresh process (``run_job``),
the settings x methods loop (``run_settings``), the Wilcoxon comparisons against a reference method, the
quality and time/memory tables with their ``failed: ...`` cells, and the written ``.md``/``.json`` pair.

A suite module keeps only what is its own: how it simulates its settings, its figure, and its title,
protocol and JSON fields.

Why a fresh process per run: the peak resident set (``peak_rss_mb``) only grows within a process, so
measured in one process every method after the hungriest would report that method's peak. On the CPU
the peak is the child's resident set, which includes the libraries it imported (recorded separately as
``baseline_memory_mb``, the peak before the chain runs); on CUDA it is ``torch.cuda.max_memory_allocated``.
The wall time is taken inside the child around the chain alone (not the process start or the imports),
but a fresh process pays first-call set-up costs in it, the same for every method.

A run that fails (an exception in the method, or the child process dying) becomes a row with its
``error`` and a ``failed: ...`` cell; the suite goes on, logs a warning and exits 0, unless every run failed.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines.errors import UserError

log = logging.getLogger(__name__)

ERROR_GAIN = 5  # error maps are shown on [0, 1/ERROR_GAIN] of the normalised reference's [0, 1]


# -- methods ---------------------------------------------------------------------------------------------------

START = ":start"  # an entry's suffix: the INR with its `start_options` (its classical start alone, step 0)


def split_spec(spec: str) -> tuple[str, str | None]:
    """A ``--methods`` entry: ``NAME``, ``NAME@PRESET`` (that method with that preset, whatever ``--preset``
    says: e.g. ``grasp@converged`` beside ``grasp``), either with ``:start`` (``with_warm_starts``)
    -> ``(NAME, PRESET or None)``."""
    name, _, preset = spec.removesuffix(START).partition("@")
    return name, preset or None


def is_start(spec: str) -> bool:
    return spec.endswith(START)


def check_methods(specs) -> None:
    """Unknown methods and unknown ``@PRESET`` s fail before any work is done, naming the known ones."""
    from inr_core.methods import get_method

    for spec in specs:
        name, preset = split_spec(spec)
        try:
            method = get_method(name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if preset is not None and preset not in method.presets:
            raise UserError(f"{spec}: method {name!r} has no preset {preset!r} (presets: "
                            f"{', '.join(method.presets) or 'none'})")
        if is_start(spec) and not method.start_options:
            raise UserError(f"{spec}: method {name!r} does not start from a classical image (no start to run)")


def preset_for(method: str, preset: str | None) -> str:
    """The preset the entry ``method`` runs with under ``--preset preset``: its own ``@PRESET``, else that
    one if the method has it, else ``default``."""
    from inr_core.methods import get_method

    name, own = split_spec(method)
    if own is not None:
        return own
    return preset if preset is not None and preset in get_method(name).presets else "default"


def method_properties(method: str, device: str, preset: str | None) -> dict[str, str]:
    """Chain properties that run the entry ``method`` on ``device`` with the preset ``preset_for`` picks.

    No fallback: a benchmark measures the method itself, and a failure must be a failed row, not
    another method's images under its name."""
    from inr_core.methods import get_method

    used = preset_for(method, preset)
    name = split_spec(method)[0]
    start = {k: str(v) for k, v in get_method(name).start_options.items()} if is_start(method) else {}
    return {"method": name, "device": device, "fallback": "none", **({"preset": used} if used != "default" else {}),
            **start}


def warn_unused_preset(methods, preset: str | None) -> None:
    if preset is not None and preset != "default" and all(preset_for(m, preset) == "default" for m in methods):
        log.warning("bench: none of %s has a preset %r; all run with their defaults", ", ".join(methods), preset)


def unique_methods(args, suite: str) -> None:
    """Check ``args.methods`` and drop repeats: rows are keyed by (file, method), a repeat would hide one."""
    check_methods(args.methods)
    if len(set(args.methods)) < len(args.methods):
        log.warning("bench %s: methods given twice run once", suite)
        args.methods = list(dict.fromkeys(args.methods))
    warn_unused_preset(args.methods, args.preset)
    if getattr(args, "warm_starts", False):
        args.methods = with_warm_starts(args.methods)


def with_warm_starts(methods: list[str]) -> list[str]:
    """``methods`` with ``ENTRY:start`` after each INR entry whose method starts from a classical image: the same
    method and preset with its ``start_options`` (its start alone, computed as the INR computes it, without the
    held-out readouts)."""
    from inr_core.methods import get_method

    out: list[str] = []
    for spec in methods:
        out.append(spec)
        start = spec + START
        if is_inr(spec) and not is_start(spec) and get_method(split_spec(spec)[0]).start_options \
                and start not in methods:
            out.append(start)
    return out


def reference_method(methods, preferred: str) -> str:
    """The method the others are compared with: ``preferred`` when it runs, else the last one given (not a start)."""
    given = [m for m in methods if not is_start(m)] or list(methods)
    return preferred if preferred in given else given[-1]


def is_inr(method: str) -> bool:
    """A scan-specific or trained INR (a method under ``inr_core.methods.inr``), not a classical method;
    ``NAME:start`` counts as its INR (it is the INR's own start, never a classical competitor)."""
    from inr_core.methods import get_method

    try:
        return get_method(split_spec(method)[0]).__module__.startswith("inr_core.methods.inr")
    except ValueError:  # not a registered method (a test's stand-in): neither side of the comparison
        return False


def _registered(method: str) -> bool:
    from inr_core.methods import get_method

    try:
        get_method(split_spec(method)[0])
        return True
    except ValueError:
        return False


# -- running ----------------------------------------------------------------------------------------------------

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
    out = out_dir / f"{raw_path.stem}_{method.replace(':', '-')}.h5"
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


def _job(raw_path: Path, method: str, preset: str | None, device: str, out_dir: Path, log_level: int) -> dict:
    """One run in the child process; exceptions come back as the row's ``error``."""
    import traceback

    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        # Imported before the baseline is read, so the baseline holds the libraries every run loads.
        import sigpy.mri  # noqa: F401 -- ESPIRiT imports it lazily, which would land in the timed chain

        import inr_core.methods  # noqa: F401
        import pipelines.streaming.host  # noqa: F401

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
    """Run ``method`` on ``raw_path`` in a fresh child process (the module docstring says why)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

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


def run_settings(suite: str, settings: list[dict], args, out_dir: Path, label: Callable[[dict], str],
                 fields: Callable[[dict], dict]) -> list[dict]:
    """Every method of ``args.methods`` on every setting's ``raw`` file, each in a fresh process (``run_job``):
    the rows, each starting with the setting's ``fields``; failures logged as warnings, not raised."""
    rows: list[dict] = []
    total = len(settings) * len(args.methods)
    for s in settings:
        for method in args.methods:
            log.info("bench %s [%d/%d]: %s with %s", suite, len(rows) + 1, total, label(s), method)
            r = {**fields(s), **run_job(s["raw"], method, args.preset, args.device, out_dir)}
            rows.append(r)
            if r["error"]:
                log.warning("bench %s: %s with %s failed: %s", suite, s["raw"].name, method, r["error"])
            else:
                log.info("bench %s: %s %s: %.2f dB, SSIM %.4f, %.1f s, %.0f MB %s", suite, s["raw"].name, method,
                         r["psnr_mean"], r["ssim_mean"], r["seconds"], r["peak_memory_mb"], r["memory_kind"])
    return rows


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


def inr_versus_classical(rows: list[dict], columns: list[tuple[str, str]], methods: list[str]) -> list[str]:
    """Lines: each INR beside its own classical start (its ``@start`` row, when the run has one) and the best
    classical method of the same run and file (highest mean PSNR), with the differences, the Wilcoxon
    p-values of the per-frame values against that classical method, and the INR's time and peak memory;
    nothing when the run has no INR or no classical method."""
    inrs = [m for m in methods if is_inr(m) and not is_start(m)]
    classical = [m for m in methods if not is_inr(m) and _registered(m)]
    if not inrs or not classical:
        return []
    cell = {(r["file"], r["method"]): r for r in rows if not r.get("error")}
    lines = ["", "## Each INR against its own start and the best classical method of this run", "",
             "Its start: the same INR entry with its start options (`:start`; step 0 alone: the classical image it "
             "starts from, computed without the held-out readouts). Best classical: the classical method with the "
             "highest mean PSNR on that file. Differences are the INR minus the other (dB, SSIM); p: two-sided "
             "Wilcoxon signed-rank test of the per-frame PSNR / SSIM against the best classical method.", "",
             "| setting | INR | PSNR | SSIM | time (s) | peak memory (MB) | its start | vs its start | "
             "best classical | its PSNR | its SSIM | ΔPSNR | ΔSSIM | p vs best classical |", "|" + "---|" * 14]
    for name, label in columns:
        done = [m for m in classical if (name, m) in cell]
        if not done:
            continue
        best = max(done, key=lambda m: cell[(name, m)]["psnr_mean"])
        b = cell[(name, best)]
        against = f"{best} | {b['psnr_mean']:.2f} | {b['ssim_mean']:.4f}"
        for m in inrs:
            r = cell.get((name, m))
            if r is None:
                lines.append(f"| {label} | {m} | failed or not run | — | — | — | — | — | {against} | — | — | — |")
                continue
            start = cell.get((name, m + START))
            if start is None:
                start_cells = "— | —"
            else:
                dp, ds = r["psnr_mean"] - start["psnr_mean"], r["ssim_mean"] - start["ssim_mean"]
                start_cells = f"{start['psnr_mean']:.2f} / {start['ssim_mean']:.4f} | {dp:+.2f} / {ds:+.4f}"
            p_cells = " / ".join(_p_cell(*paired_test(r[k], b[k])) if k in r and k in b else "—"
                                 for k in ("psnr", "ssim"))
            lines.append(f"| {label} | {m} | {r['psnr_mean']:.2f} | {r['ssim_mean']:.4f} | {r['seconds']:.1f} | "
                         f"{r['peak_memory_mb']:.0f} {r['memory_kind']} | {start_cells} | {against} | "
                         f"{r['psnr_mean'] - b['psnr_mean']:+.2f} | {r['ssim_mean'] - b['ssim_mean']:+.4f} | "
                         f"{p_cells} |")
    return lines


def wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


# -- outputs -----------------------------------------------------------------------------------------------------

def run_description(rows: list[dict], args) -> str:
    """``<preset text>; device <devices>``: how the suite's rows ran, for its table's info line."""
    devices = sorted({r["device"] for r in rows if not r.get("error")})
    preset = f"preset {args.preset} where a method has it" if args.preset else "default presets"
    return f"{preset}; device {', '.join(devices) or args.device}"


def save_figure(fig, path: Path) -> Path:
    """Lay out, write (110 dpi, the folder made) and close a suite's matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def finite_or_none(value):
    """``value`` made JSON-safe: non-finite floats as ``None``, paths as text, containers walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_results(table_path: Path, table: str, document: dict) -> None:
    """The suite's markdown table (also printed) and its JSON document beside it (same stem)."""
    table_path.write_text(table)
    table_path.with_suffix(".json").write_text(json.dumps(finite_or_none(document), indent=2, allow_nan=False))
    sys.stdout.write(table)


def check_failures(rows: list[dict], table: Path, suite: str) -> None:
    """A warning naming the failed runs; a ``UserError`` when every run failed."""
    failed = [r for r in rows if r["error"]]
    if failed and len(failed) == len(rows):
        raise UserError(f"every run failed (first: {failed[0]['method']} on {failed[0]['file']}: "
                        f"{failed[0]['error']}); see {table}")
    if failed:
        log.warning("%s: %d of %d runs failed: %s", suite, len(failed), len(rows),
                    "; ".join(f"{r['method']} on {r['file']}" for r in failed))
