"""``gadgetron-inr evaluate``: score reconstructed images against the raw file's reference.

Magnitude images, per frame, with ``inr_core.metrics.score`` under the chosen protocol; the images
of the output file's first image series are matched to ``/reference/images`` by (slice, phase). The
slices the image file holds are scored, each slice as the cine it is (the protocols normalise over
a cine's frames), and the stack overall as the mean and std over every frame of every slice. An
image file of some slices of a stack (e.g. one slice replayed alone) is scored against those slices
of the reference, and a slice scores the same alone as inside its stack.
Prints a mean ± std table (overall, then one row block per slice), or one JSON object with ``--json``
(the overall figures at the top level, per slice under ``"slices"``).
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from pipelines.errors import UserError

PROTOCOLS = ("kp-inr", "da-inr")
ROWS = (("PSNR (dB)", "psnr"), ("SSIM", "ssim"), ("NRMSE", "nrmse"))


def add_arguments(parser):
    parser.add_argument("images", help="ISMRMRD image file written by replay")
    parser.add_argument("--reference", required=True, help="raw file holding /reference/images (from simulate)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="kp-inr", help="metric protocol (default kp-inr)")
    parser.add_argument("--series", help="image series group, e.g. image_1 (default: the first)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def load_pair(images_path, reference_path, series: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(recon magnitude, reference magnitude), both (slices * frames, ny, nx) float32, over the slices
    the image file holds."""
    _, recon, reference = load_slices(images_path, reference_path, series)
    flat = (-1, *recon.shape[-2:])
    return recon.reshape(flat), reference.reshape(flat)


def load_slices(images_path, reference_path, series: str | None = None) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(slice indices, recon magnitude, reference magnitude): the slices the image file holds, both
    arrays (slices, frames, ny, nx) float32."""
    from pipelines.files.ismrmrd_io import read_images, read_reference

    found = read_images(images_path)
    if series:
        found = [s for s in found if s.name.split("/")[-1] == series or s.name == series]
        if not found:
            raise UserError(f"{images_path!r} has no image series {series!r}")
    images = found[0]
    slices = sorted({int(s) for s in images.headers["slice"]})
    recon = np.abs(images.frames())[slices]
    reference = read_reference(reference_path)
    if reference is None:
        raise UserError(f"{reference_path!r} has no /reference/images (write it with `gadgetron-inr simulate`)")
    if slices[-1] >= reference.shape[0]:
        raise UserError(f"the images hold slice {slices[-1]}, the reference only {reference.shape[0]} slice(s)")
    reference = np.abs(reference[slices])
    if recon.shape != reference.shape:
        raise UserError(f"image shape (slices, frames, ny, nx) = {recon.shape} does not match the reference "
                        f"{reference.shape}")
    counts = np.bincount(images.headers["slice"].astype(int))[slices]
    if (counts != recon.shape[1]).any():
        raise UserError(f"slices {slices} hold {counts.tolist()} images, not {recon.shape[1]} frames each")
    return slices, recon.astype(np.float32), reference.astype(np.float32)


def score(recon: np.ndarray, reference: np.ndarray, protocol: str) -> dict:
    from inr_core.metrics import score as core_score

    return summarise(core_score(torch.from_numpy(recon), torch.from_numpy(reference), protocol), recon, protocol)


def summarise(result: dict, recon: np.ndarray, protocol: str) -> dict:
    """The plain-value summary of an ``inr_core.metrics.score`` result, with its protocol and frame count."""
    summary = dict(result.get("summary", result))
    summary.setdefault("protocol", protocol)
    summary.setdefault("frames", int(recon.shape[0]))
    return {k: _plain(v) for k, v in summary.items()}


def _plain(value):
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def score_slices(slices: list[int], recon: np.ndarray, reference: np.ndarray, protocol: str) -> dict:
    """The overall summary (every frame of every slice, each slice normalised as its own cine), with
    ``"slices"``: one summary per slice (with its ``slice`` index) when there are several."""
    from inr_core.metrics import score as core_score

    results = [core_score(torch.from_numpy(recon[i]), torch.from_numpy(reference[i]), protocol)
               for i in range(len(slices))]
    if len(slices) == 1:
        return summarise(results[0], recon[0], protocol)
    pooled = {key: np.concatenate([r[key] for r in results]) for key in ("psnr", "ssim", "nrmse")}
    summary = {"frames": int(sum(len(r["psnr"]) for r in results)), "protocol": protocol}
    for key, values in pooled.items():
        summary[f"{key}_mean"] = float(np.mean(values))
        summary[f"{key}_std"] = float(np.std(values)) if np.all(np.isfinite(values)) else float("nan")
    summary = {k: _plain(v) for k, v in summary.items()}
    summary["slices"] = [{"slice": s, **summarise(results[i], recon[i], protocol)} for i, s in enumerate(slices)]
    return summary


def run(args) -> int:
    summary = score_slices(*load_slices(args.images, args.reference, args.series), args.protocol)
    if args.json:
        # Strict JSON has no NaN/Infinity: a non-finite value (e.g. PSNR of identical images) becomes null.
        print(json.dumps(_strict(summary), default=str))
        return 0
    per_slice = summary.pop("slices", [])
    what = f"{len(per_slice)} slices, " if per_slice else ""
    print(f"{args.images} vs {args.reference}: {what}{summary['frames']} frames, protocol {summary['protocol']}")
    print(f"{'metric':10s} {'mean':>9s}   {'std':>7s}")
    for block in [summary, *per_slice]:
        if "slice" in block:
            print(f"slice {block['slice']} ({block['frames']} frames)")
        for label, key in ROWS:
            mean, std = block.get(f"{key}_mean"), block.get(f"{key}_std")
            if mean is not None:
                print(f"{label:10s} {mean:9.4f} ± {std if std is not None else float('nan'):7.4f}")
    return 0


def _strict(value):
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value if _finite(value) else None


def _finite(value) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))
