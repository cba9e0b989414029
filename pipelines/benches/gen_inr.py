"""``gadgetron-inr bench gen-inr``: the Generalized INR against per-frame CG-SENSE and zero-filled.

Test images training never saw (docs/methods-gen-inr.md):

- ``realistic``: the realistic simulation (``simulate_cine(..., realism=Realism())``: cardiac array,
  3 rad background phase, 50 dB k-space-centre SNR, correlated noise) on phantom seeds ``--seed``,
  ``--seed + 1``, ... (training draws its phantom seeds from 10000 up, validation from 1000-9999);
- ``other``: a differently made simulation, as a generalisation check: random-ellipse images (no
  cardiac anatomy), the ring of loop coils of the plain simulation (``coil_sensitivities``, 8 coils),
  noise set by the image SNR (30) with the plain simulation's coil correlation.

Each is undersampled equispaced (every R-th line plus a central block of 8% of the lines, the
paper's masks) at every ``--accelerations`` R (default 3 4 5 6 8 10; training covered 2-8), and the
realistic cases also kt-Gaussian at R 4 and 8 (the project's cine pattern, frames with their own
lines; training saw kt frames in a quarter of its samples), then
prewhitened with the known noise covariance (the chain does this from the noise scan), ESPIRiT maps
and their intensity correction as the chain computes them, and every method gets the same data and
maps. Scores: PSNR/SSIM, the kp-inr protocol (magnitude, central half of the rows, divided by the
reference's maximum), mean over frames and cases.

Speed: per-slice and per-frame wall time of ``gen-inr`` (one forward pass over all frames of a
``--matrix`` slice of ``--frames`` frames, median of 5 after a warm-up) and of a one-frame slice, and
peak memory (CPU: the process's peak resident set after the timing, before anything else runs;
CUDA: ``torch.cuda.max_memory_allocated``). Writes ``results.md`` and ``results.json`` into
``--out-dir``/gen-inr.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

DEFAULT_ACCELERATIONS = (3, 4, 5, 6, 8, 10)
KT_ACCELERATIONS = (4, 8)
CASES_PER_SET = 2


def ellipse_image(rng: np.random.Generator, shape: tuple[int, int]) -> torch.Tensor:
    """Random overlapping ellipses (additive intensities) inside a body ellipse, with a smooth phase."""
    ny, nx = shape
    half = max(ny, nx) / 2
    y = ((np.arange(ny) - ny // 2) / half)[:, None]
    x = ((np.arange(nx) - nx // 2) / half)[None, :]
    image = np.zeros(shape)
    body = ((x / 0.85) ** 2 + (y / 0.7) ** 2) <= 1
    image[body] = 0.3
    for _ in range(int(rng.integers(8, 16))):
        cx, cy = rng.uniform(-0.55, 0.55), rng.uniform(-0.45, 0.45)
        a, b, t = rng.uniform(0.03, 0.3), rng.uniform(0.03, 0.3), rng.uniform(0, math.pi)
        u = (x - cx) * math.cos(t) + (y - cy) * math.sin(t)
        v = -(x - cx) * math.sin(t) + (y - cy) * math.cos(t)
        image[((u / a) ** 2 + (v / b) ** 2 <= 1) & body] += rng.uniform(-0.2, 0.6)
    image = np.clip(image, 0, None)
    phase = rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y + rng.uniform(0, 2 * math.pi)
    return torch.from_numpy((image * np.exp(1j * phase)).astype(np.complex64))


def realistic_case(seed: int, matrix: int, frames: int, coils: int):
    """``(truth (T, ny, nx), k-space (T, C, ny, nx), noise covariance)`` of the realistic simulation."""
    from inr_core.fft import fft2c, ifft2c
    from inr_core.simulate import Realism, simulate_cine

    sim = simulate_cine(matrix, frames, coils, seed=seed, realism=Realism())
    # Remove the 2x readout oversampling as the chain does: image domain, crop the centre nx.
    img = ifft2c(sim.kspace)
    nx = matrix
    start = (img.shape[-1] - nx) // 2
    return sim.images, fft2c(img[..., start:start + nx]), sim.noise_covariance


def other_case(seed: int, matrix: int, frames: int, coils: int = 8, snr: float = 30.0):
    """The differently made simulation (module docstring): ellipses, ring coils, image-SNR noise."""
    from inr_core.fft import fft2c
    from inr_core.simulate import coil_sensitivities, correlated_noise, noise_covariance

    rng = np.random.default_rng((seed, 77))
    truth = torch.stack([ellipse_image(rng, (matrix, matrix)) for _ in range(frames)])
    maps = coil_sensitivities(coils, matrix, seed=seed)
    cov = noise_covariance(coils, seed=seed + 1)
    clean = fft2c(truth[:, None] * maps[None])
    std = float(truth.abs()[truth.abs() > 0].mean()) / snr
    noise = correlated_noise(cov, (frames, matrix, matrix), std, rng)
    kspace = clean + torch.from_numpy(np.moveaxis(noise, 0, 1).astype(np.complex64))
    return truth, kspace, cov


def undersampled(kspace: torch.Tensor, cov: np.ndarray, r: int, pattern: str = "equispaced"):
    """Prewhitened CartesianCine (``pattern`` at R) + its ESPIRiT maps and intensity correction."""
    from inr_core.coils import coil_maps_and_intensity
    from inr_core.data import CartesianCine
    from inr_core.sampling import make_mask

    frames, _, ny, _ = kspace.shape
    whitener = np.linalg.inv(np.linalg.cholesky(cov)).astype(np.complex64)
    white = torch.einsum("ij,tjyx->tiyx", torch.from_numpy(whitener), kspace)
    mask = torch.from_numpy(make_mask(pattern, ny, frames, r, seed=1))
    data = CartesianCine(white * mask[:, None, :, None], mask)
    # The paper's 8% ACS block is 15 lines at 192 (10 at 128): ESPIRiT needs its smaller kernel there.
    maps, intensity = coil_maps_and_intensity(data, whitener, kernel_width=4)
    return data, maps, intensity


def _score(images, intensity, truth) -> dict:
    from inr_core.metrics import score

    s = score(images.cpu() * intensity[None], truth, protocol="kp-inr")["summary"]
    return {"psnr": s["psnr_mean"], "ssim": s["ssim_mean"]}


def _methods(device: str):
    from inr_core.methods.base import build, get_method

    gen = get_method("gen-inr")
    return {
        "zero-filled": build("zero-filled", None, device),
        "cg-sense": build("cg-sense", None, device),
        "gen-inr": build("gen-inr", gen.make_config(), device),
        "gen-inr (no DC)": build("gen-inr", gen.make_config(data_consistency="false"), device),
    }


def timing(method, matrix: int, frames: int, coils: int, device: str) -> dict:
    """Per-slice / per-frame wall time of ``method`` on random data of the benchmark's size."""
    from inr_core.data import CartesianCine
    from inr_core.sampling import equispaced

    g = torch.Generator().manual_seed(0)
    out = {}
    for t in (frames, 1):
        k = torch.randn(t, coils, matrix, matrix, dtype=torch.complex64, generator=g)
        mask = torch.from_numpy(equispaced(matrix, t, 4))
        data = CartesianCine(k * mask[:, None, :, None], mask)
        maps = torch.randn(coils, matrix, matrix, dtype=torch.complex64, generator=g)
        maps = maps / maps.abs().pow(2).sum(0).sqrt()
        method(data, maps)  # warm-up
        times = []
        for _ in range(5):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            method(data, maps)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        out[t] = float(np.median(times))
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"slice_frames": frames, "slice_s": out[frames], "per_frame_ms": 1000 * out[frames] / frames,
            "single_frame_ms": 1000 * out[1], "peak_memory_mb": peak, "threads": torch.get_num_threads()}


def evaluate(methods: dict, sets: dict, accelerations, pattern: str = "equispaced") -> list[dict]:
    rows = []
    for set_name, cases in sets.items():
        for r in accelerations:
            scores: dict[str, list] = {name: [] for name in methods}
            for truth, kspace, cov in cases:
                data, maps, intensity = undersampled(kspace, cov, r, pattern)
                for name, method in methods.items():
                    scores[name].append(_score(method(data, maps), intensity, truth))
            for name, vals in scores.items():
                rows.append({"set": set_name, "R": r, "method": name,
                             "psnr": float(np.mean([v["psnr"] for v in vals])),
                             "ssim": float(np.mean([v["ssim"] for v in vals])), "cases": len(vals)})
            best = {n: next(x for x in rows[::-1] if x["method"] == n and x["R"] == r and x["set"] == set_name)
                    for n in ("gen-inr", "cg-sense")}
            log.info("%s R=%d: gen-inr %.2f dB, cg-sense %.2f dB", set_name, r, best["gen-inr"]["psnr"],
                     best["cg-sense"]["psnr"])
    return rows


def markdown(rows: list[dict], speed: dict, device: str) -> str:
    lines = []
    for set_name in dict.fromkeys(r["set"] for r in rows):
        sub = [r for r in rows if r["set"] == set_name]
        accs = list(dict.fromkeys(r["R"] for r in sub))
        names = list(dict.fromkeys(r["method"] for r in sub))
        lines += [f"### {set_name} (PSNR dB / SSIM, kp-inr protocol, mean of {sub[0]['cases']} cases)", "",
                  "| method | " + " | ".join(f"R={a:g}" for a in accs) + " |",
                  "|---|" + "---|" * len(accs)]
        for n in names:
            cells = [next(r for r in sub if r["method"] == n and r["R"] == a) for a in accs]
            lines.append(f"| {n} | " + " | ".join(f"{c['psnr']:.2f} / {c['ssim']:.3f}" for c in cells) + " |")
        gi = {a: next(r for r in sub if r["method"] == "gen-inr" and r["R"] == a)["psnr"] for a in accs}
        cg = {a: next(r for r in sub if r["method"] == "cg-sense" and r["R"] == a)["psnr"] for a in accs}
        lines.append("| gen-inr - cg-sense (dB) | " + " | ".join(f"{gi[a] - cg[a]:+.2f}" for a in accs) + " |")
        lines.append("")
    lines += [f"### speed on {device} ({speed['threads']} threads)", "",
              f"- {speed['slice_frames']}-frame slice: {speed['slice_s'] * 1000:.1f} ms "
              f"({speed['per_frame_ms']:.1f} ms per frame); one-frame slice: {speed['single_frame_ms']:.1f} ms",
              f"- peak memory: {speed['peak_memory_mb']:.0f} MiB "
              f"({'torch.cuda.max_memory_allocated' if device.startswith('cuda') else 'process peak RSS'})", ""]
    return "\n".join(lines)


def run_gen_inr(args) -> int:
    from pipelines.benches.options import CARTESIAN_ACCELERATIONS
    from pipelines.errors import UserError

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    accs = [int(a) for a in args.accelerations] if list(args.accelerations) != list(CARTESIAN_ACCELERATIONS) \
        else list(DEFAULT_ACCELERATIONS)
    matrix, frames, coils = args.matrix, args.frames, args.coils
    try:
        methods = _methods(device)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    speed = timing(methods["gen-inr"], matrix, frames, coils, device)
    log.info("gen-inr speed: %s", speed)
    seeds = [args.seed + i for i in range(CASES_PER_SET)]
    sets = {"realistic": [realistic_case(s, matrix, frames, coils) for s in seeds],
            "other": [other_case(s, matrix, frames) for s in seeds]}
    try:
        rows = evaluate(methods, sets, accs)
        # kt masks (per-frame lattices, 16 ACS lines): the scale embedding gets each frame's effective R.
        rows += evaluate(methods, {"realistic, kt-gaussian": sets["realistic"]}, KT_ACCELERATIONS, "kt-gaussian")
    except ValueError as exc:  # e.g. an 8% ACS block too small for ESPIRiT on a small --matrix
        raise UserError(f"bench gen-inr at {matrix}x{matrix}: {exc}") from None
    out = Path(args.out_dir) / "gen-inr"
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, speed, device)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"rows": rows, "speed": speed, "device": device,
                                                  "matrix": matrix, "frames": frames, "coils": coils,
                                                  "seeds": seeds, "accelerations": accs}, indent=2))
    sys.stdout.write(text)
    return 0
