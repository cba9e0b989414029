"""``gadgetron-inr bench radial``: the DA-INR paper's cardiac cine comparison on simulated radial cines.

What it measures: for every ``--spokes`` value (default 5, 13 and 21 golden-angle spokes per frame,
the paper's AF 25.6, 9.8 and 6.1) one radial cine is simulated with ``pipelines.commands.simulate.simulate_file``
(the realistic, scanner-like simulation by default; the same seed for all, so every setting samples
the same object; default 128x128, 23 frames as in the paper, 8 coils on the CPU and 32 -- the paper's
array -- on CUDA). Every method in ``--methods`` (default: every registered method that reconstructs
radial data, ``pipelines.benches.options``) reconstructs it through the full embedded radial chain
(prewhitening, oversampling removal, buffering, ESPIRiT, reconstruction, export; no fallback), each run in a
fresh process
(``pipelines.benches.suite.run_job``: the peak resident set only grows within a process). Per
method and setting it reports:

- PSNR and SSIM, mean ± std over frames, under the da-inr protocol (``inr_core.metrics``: magnitudes,
  full image, recon and reference each min-max normalised to [0, 1] over the whole series, as the
  paper scores them);
- the p-value of a two-sided Wilcoxon signed-rank test of the per-frame PSNR (and SSIM) against
  da-inr's on the same file (against the last method given when da-inr is not among them);
- time to image (wall time of the whole chain, ESPIRiT included) and peak memory (the child's resident
  set on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA).

Writes into ``<out-dir>/radial/``: the simulated raw files and reconstructed images, ``results.md``
(printed to stdout too), ``results.json`` (every row with its per-frame values, and how it was run) and
per setting ``figure_<N>spokes.png`` in the layout of the paper's Fig. 4 and 6: end-diastole and
end-systole frames per method with their absolute error maps and per-frame PSNR, and the x-t profile
along the image row through the heart (marked on the reference), all on one grey scale after the
da-inr normalisation.

A failing run is a ``failed: ...`` row; the benchmark goes on and exits 0 unless every run failed.
"""

from __future__ import annotations

import logging
import os
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
    split_spec,
    unique_methods,
    wrap,
    write_results,
)
from pipelines.errors import UserError

log = logging.getLogger(__name__)

REFERENCE_METHOD = "da-inr"
TITLE = "Radial cine benchmark (DA-INR paper, cardiac cine)"
PROTOCOL = ("da-inr protocol (magnitudes, full image, recon and reference each min-max normalised to [0, 1] over "
            "the series)")


def setting_label(spokes: int) -> str:
    return f"{spokes} spokes"


def _check(args) -> None:
    """Everything that can be refused before any simulation or reconstruction runs."""
    from inr_core.methods import get_method

    if args.raw:
        raise UserError("--raw does not apply to bench radial: it simulates one radial file per --spokes value")
    for spokes in args.spokes:
        if not 1 <= spokes <= 4 * args.matrix:
            raise UserError(f"--spokes must be between 1 and {4 * args.matrix} for --matrix {args.matrix}, "
                            f"got {spokes}")
    for name in args.methods:
        method = get_method(split_spec(name)[0])
        if "radial" not in method.trajectories:
            raise UserError(f"method {name!r} does not reconstruct radial data (supports: "
                            f"{', '.join(method.trajectories)})")
        if args.frames < method.min_frames:
            raise UserError(f"method {name!r} needs at least {method.min_frames} frames, --frames is {args.frames}")


def simulate_settings(args, out_dir: Path) -> list[dict]:
    from pipelines.commands.simulate import simulate_file

    kind = "realistic_" if args.realistic else ""
    settings = []
    for spokes in args.spokes:
        path = out_dir / f"{kind}radial_{spokes}spokes.h5"
        log.info("bench radial: simulating %s", path.name)
        simulate_file(path, trajectory="radial", spokes=spokes, frames=args.frames, matrix=args.matrix,
                      coils=args.coils, seed=args.seed, realistic=args.realistic, snr=args.snr, force=True)
        settings.append({"spokes": spokes, "raw": path})
    return settings


def key_frames(frames: int) -> dict[str, int]:
    """End-diastole and end-systole of the simulated heartbeat (``inr_core.phantom.contraction``: frame t
    is at cardiac phase t/frames), the two phases the paper's Fig. 4 shows."""
    from inr_core.phantom import contraction

    c = contraction(np.arange(frames) / frames)
    return {"diastole": int(np.argmin(c)), "systole": int(np.argmax(c))}


def write_figure(path: Path, raw_path: Path, rows: list[dict], title: str = "") -> Path:
    """Fig. 4/6 layout for one setting, one column per method after the reference: per key frame the
    image and its absolute error map, then the x-t profile through the heart; da-inr normalisation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inr_core.metrics import prepare
    from pipelines.commands.evaluate import load_pair
    from pipelines.files.ismrmrd_io import read_reference
    from pipelines.files.preview import heart_pixel

    reference = np.abs(read_reference(raw_path))
    _, ref = prepare(*(2 * [reference.reshape(-1, *reference.shape[-2:])]), "da-inr")
    phases = key_frames(ref.shape[0])
    heart_row, _ = heart_pixel(ref)  # from the reference, so every profile runs through the same pixels
    columns = [("reference", ref, None)]
    for r in rows:
        images = None if r.get("error") else prepare(*load_pair(r["images"], raw_path), "da-inr")[0]
        columns.append((r["method"], images, r))

    n_rows = 2 * len(phases) + 1
    fig, axes = plt.subplots(n_rows, len(columns), figsize=(1.9 * len(columns), 1.9 * n_rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for j, (name, images, r) in enumerate(columns):
        col = axes[:, j]
        label = name + (f" ({r['preset']})" if r and r["preset"] != "default" else "")
        if images is None:
            col[0].text(0.5, 0.5, "\n".join(wrap(failure_cell(r["error"], 200), 22)[:8]), ha="center", va="center",
                        fontsize=6, transform=col[0].transAxes)
            col[0].set_title(label, fontsize=8)
            for ax in col[1:]:
                ax.axis("off")
            continue
        for i, (phase, frame) in enumerate(phases.items()):
            image_ax, error_ax = col[2 * i], col[2 * i + 1]
            image_ax.imshow(images[frame], cmap="gray", vmin=0, vmax=1)
            psnr = "" if r is None else f": {r['psnr'][frame]:.2f} dB"
            image_ax.set_title(f"{label}\n{phase} (frame {frame}){psnr}", fontsize=7)
            if r is None:
                image_ax.axhline(heart_row, color="w", lw=0.6)
                error_ax.text(0.5, 0.5, f"|recon - reference|\nx{ERROR_GAIN}: grey scale\n0 to {1 / ERROR_GAIN:g}",
                              ha="center", va="center", fontsize=7, transform=error_ax.transAxes)
                error_ax.axis("off")
            else:
                error_ax.imshow(np.abs(images[frame] - ref[frame]), cmap="gray", vmin=0, vmax=1 / ERROR_GAIN)
                error_ax.set_title(f"|error| x{ERROR_GAIN}, {phase}", fontsize=7)
        col[-1].imshow(images[:, heart_row, :].T, cmap="gray", vmin=0, vmax=1, aspect="auto")
        col[-1].set_title(f"x-t, row {heart_row}", fontsize=7)
        col[-1].set_xlabel("frame", fontsize=6)
    fig.suptitle(f"{title}\nda-inr normalisation (each series min-max to [0, 1]); x-t: the white line's row, "
                 "frames left to right".strip(), fontsize=8)
    return save_figure(fig, path)


def _environment(args) -> dict:
    import torch

    return {"device": args.device, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_radial(args) -> int:
    unique_methods(args, "radial")
    args.spokes = list(dict.fromkeys(args.spokes))
    _check(args)
    out_dir = Path(args.out_dir) / "radial"
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = simulate_settings(args, out_dir)
    against = reference_method(args.methods, REFERENCE_METHOD)

    rows = run_settings("radial", settings, args, out_dir, label=lambda s: setting_label(s["spokes"]),
                        fields=lambda s: {"spokes": s["spokes"]})
    add_comparisons(rows, against)

    size = f"{args.matrix}x{args.matrix}, {args.frames} frames, {args.coils} coils"
    for s in settings:
        figure = write_figure(out_dir / f"figure_{s['spokes']}spokes.png", s["raw"],
                              [r for r in rows if r["file"] == s["raw"].name],
                              title=f"{setting_label(s['spokes'])} per frame (golden angle), {size}, seed {args.seed}")
        log.info("bench radial: wrote %s", figure)

    environment = _environment(args)
    simulation = "realistic simulation" if args.realistic else f"plain simulation, SNR {args.snr:g}"
    info = (f"Simulated golden-angle radial cine ({simulation}): {size}, seed {args.seed}; "
            f"{run_description(rows, args)}; OMP_NUM_THREADS={environment['omp_num_threads'] or 'unset'}, "
            f"{environment['cpu_count']} CPUs.")
    columns = [(s["raw"].name, setting_label(s["spokes"])) for s in settings]
    table = comparison_tables(rows, columns, args.methods, against, TITLE, PROTOCOL, info)
    document = {"suite": "radial", "matrix": args.matrix, "frames": args.frames, "coils": args.coils,
                "seed": args.seed, "realistic": args.realistic, "preset": args.preset, "compared_with": against,
                "protocol": "da-inr", "test": "two-sided Wilcoxon signed-rank, per-frame values",
                "key_frames": key_frames(args.frames), "environment": environment,
                "settings": [{**s, "raw": str(s["raw"])} for s in settings], "rows": rows}
    write_results(out_dir / "results.md", table, document)

    check_failures(rows, out_dir / "results.md", "bench radial")
    return 0
