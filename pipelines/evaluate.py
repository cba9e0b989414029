"""``gadgetron-inr evaluate``: score reconstructed images against the raw file's reference.

Magnitude images, per frame, with ``inr_core.metrics.score`` under the chosen protocol; the images
of the output file's first image series are matched to ``/reference/images`` by (slice, phase), and
all slices' frames are scored as one series (slice-major).
Prints a mean ± std table, or one JSON object with ``--json``.
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
    """(recon magnitude, reference magnitude), both (slices * frames, ny, nx) float32."""
    from pipelines.ismrmrd_io import read_images, read_reference

    found = read_images(images_path)
    if series:
        found = [s for s in found if s.name.split("/")[-1] == series or s.name == series]
        if not found:
            raise UserError(f"{images_path!r} has no image series {series!r}")
    recon = np.abs(found[0].frames())
    reference = read_reference(reference_path)
    if reference is None:
        raise UserError(f"{reference_path!r} has no /reference/images (write it with `gadgetron-inr simulate`)")
    reference = np.abs(reference)
    if recon.shape != reference.shape:
        raise UserError(f"image shape (slices, frames, ny, nx) = {recon.shape} does not match the reference "
                        f"{reference.shape}")
    flat = (-1, *recon.shape[-2:])
    return recon.reshape(flat).astype(np.float32), reference.reshape(flat).astype(np.float32)


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


def run(args) -> int:
    recon, reference = load_pair(args.images, args.reference, args.series)
    summary = score(recon, reference, args.protocol)
    if args.json:
        # Strict JSON has no NaN/Infinity: a non-finite value (e.g. PSNR of identical images) becomes null.
        print(json.dumps({k: v if _finite(v) else None for k, v in summary.items()}, default=str))
        return 0
    print(f"{args.images} vs {args.reference}: {summary['frames']} frames, protocol {summary['protocol']}")
    print(f"{'metric':10s} {'mean':>9s}   {'std':>7s}")
    for label, key in ROWS:
        mean, std = summary.get(f"{key}_mean"), summary.get(f"{key}_std")
        if mean is not None:
            print(f"{label:10s} {mean:9.4f} ± {std if std is not None else float('nan'):7.4f}")
    return 0


def _finite(value) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))
