"""``gadgetron-inr bench cartesian``: the KP-INR paper's Table 1 and Figure 2 on simulated cines.

What it measures: for every sampling setting (``--patterns`` x ``--accelerations``, default
kt-uniform and kt-Gaussian at R = 4 and 8) one Cartesian cine is simulated
(``pipelines.commands.simulate.simulate_file``, the same seed for all, so every setting undersamples the same
object; default 160x160, 16 frames, 10 coils; ``--realistic`` for the scanner-like simulation),
and every method in ``--methods`` reconstructs it through the full embedded chain (prewhitening,
oversampling removal, buffering, ESPIRiT, reconstruction, export), as ``bench classical`` does.
Default methods: every registered one that reconstructs Cartesian data (``pipelines.benches.options``).
Per method and setting it reports:

- PSNR and SSIM, mean ± std over frames, under the kp-inr protocol (``inr_core.metrics``: magnitudes,
  central half of the rows, recon and reference divided by the reference maximum);
- the p-value of a two-sided Wilcoxon signed-rank test of the method's per-frame PSNR (and SSIM)
  against kp-inr's per-frame values on the same file -- against the last method given when kp-inr
  is not among them. No p-value (``null`` with a reason) for the reference method itself, when the
  reference method failed, or when the paired values are identical or not finite;
- wall time of the whole chain and peak memory.

How: every (file, method) run in a fresh process, a failed run a ``failed: ...`` cell, the comparisons
and tables: the shape the suites share (``pipelines.benches.suite``, whose docstring says why).

Writes into ``<out-dir>/cartesian/``: the simulated raw files and reconstructed images,
``cartesian.md`` (printed to stdout too), ``cartesian.json`` (every row, per-frame PSNR/SSIM/NRMSE
included; non-finite numbers as ``null``) and per setting ``figure_<pattern>_R<R>.png``: a
mid-cycle frame per method and of the reference, the x-t profile through the heart and the error
map, all after the kp-inr normalisation and on one grey scale.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pipelines.benches.suite import (
    ERROR_GAIN,
    add_comparisons,
    check_failures,
    comparison_tables,
    failure_cell,
    reference_method,
    run_description,
    run_settings,
    save_figure,
    unique_methods,
    wrap,
    write_results,
)
from pipelines.errors import UserError

log = logging.getLogger(__name__)

REFERENCE_METHOD = "kp-inr"


def setting_key(pattern: str, acceleration: float) -> str:
    return f"{pattern}_R{acceleration:g}"


def setting_label(pattern: str, acceleration: float) -> str:
    return f"{pattern} R={acceleration:g}"


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


# -- tables ------------------------------------------------------------------------------------------------------

KP_INR_PROTOCOL = ("kp-inr protocol (magnitudes, central half of the rows, recon and reference divided by the "
                   "reference maximum)")


def markdown(rows: list[dict], settings: list[dict], methods: list[str], against: str, info: str = "") -> str:
    columns = [(s["raw"].name, setting_label(s["pattern"], s["acceleration"])) for s in settings]
    return comparison_tables(rows, columns, methods, against, "Cartesian cine benchmark (KP-INR paper, Table 1 layout)",
                             KP_INR_PROTOCOL, info)


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
            top.text(0.5, 0.5, "\n".join(wrap(failure_cell(r["error"], 200), 24)[:8]), ha="center", va="center",
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
    return save_figure(fig, path)


# -- the command ----------------------------------------------------------------------------------------------------

def run_cartesian(args) -> int:
    unique_methods(args, "cartesian")
    _check(args)
    out_dir = Path(args.out_dir) / "cartesian"
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = simulate_settings(args, out_dir)
    against = reference_method(args.methods, REFERENCE_METHOD)

    rows = run_settings("cartesian", settings, args, out_dir,
                        label=lambda s: setting_label(s["pattern"], s["acceleration"]),
                        fields=lambda s: {"pattern": s["pattern"], "acceleration": s["acceleration"]})
    add_comparisons(rows, against)

    for s in settings:
        key = setting_key(s["pattern"], s["acceleration"])
        figure = write_figure(out_dir / f"figure_{key}.png", s["raw"], [r for r in rows if r["file"] == s["raw"].name],
                              title=f"{setting_label(s['pattern'], s['acceleration'])}, {args.matrix}x{args.matrix}, "
                                    f"{args.frames} frames, {args.coils} coils")
        log.info("bench cartesian: wrote %s", figure)

    info = (f"Simulated cine: {args.matrix}x{args.matrix}, {args.frames} frames, {args.coils} coils, SNR {args.snr:g}, "
            f"seed {args.seed}; {run_description(rows, args)}.")
    table = markdown(rows, settings, args.methods, against, info)
    document = {"suite": "cartesian", "matrix": args.matrix, "frames": args.frames, "coils": args.coils,
                "snr": args.snr, "seed": args.seed, "preset": args.preset, "compared_with": against,
                "protocol": "kp-inr", "test": "two-sided Wilcoxon signed-rank, per-frame values",
                "settings": [{**s, "raw": str(s["raw"])} for s in settings], "rows": rows}
    write_results(out_dir / "cartesian.md", table, document)

    check_failures(rows, out_dir / "cartesian.md", "bench cartesian")
    return 0
