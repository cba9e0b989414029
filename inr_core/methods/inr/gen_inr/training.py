"""Training the Generalized INR once: seeded, resumable, budgeted, validated.

- Every step's batch (images, masks, pixel subset) is drawn from ``numpy.random.default_rng((seed,
  step))`` and the network is initialised from ``seed``, so a run is reproducible and a resumed run
  (``resume=True`` with the checkpoint) ends with the weights of an uninterrupted one.
- Adam (amsgrad, betas 0.9/0.99 as the paper), cosine schedule from ``lr`` to ``lr_min`` over
  ``steps``; ``time_budget_s`` (0: none) ends the run earlier, with a checkpoint and weights.
- Loss: L1 on the real and imaginary parts of the normalised coil-combined image at ``pixels``
  random pixels per image (the MLP is evaluated only there; the encoder sees the whole image).
- Validation: a fixed set drawn from its own seed stream (simulation: phantom seeds disjoint from
  training's; raw folder: held-out files), every ``val_every`` steps and at the end: the same L1 on
  every pixel and the PSNR of the magnitude image against the target's, next to the prior's PSNR
  (the image the network refines).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from inr_core.methods.inr.gen_inr.data import Batch
from inr_core.nn.gen_inr_net import GenInrArch, GenInrNet

log = logging.getLogger(__name__)

WEIGHTS_FORMAT = "gadgetron-inr/gen-inr-weights"
CHECKPOINT_FORMAT = "gadgetron-inr/gen-inr-checkpoint"


@dataclass
class TrainConfig:
    steps: int = 3000
    batch: int = 4
    pixels: int = 4096  # MLP evaluations per image and step
    lr: float = 1e-3
    lr_min: float = 1e-5
    seed: int = 0
    r_min: int = 2
    r_max: int = 8
    kt_fraction: float = 0.0  # share of samples with one frame of a kt mask instead of equispaced
    val_samples: int = 16
    val_every: int = 250
    checkpoint_every: int = 100
    time_budget_s: float = 0.0
    arch: dict = field(default_factory=lambda: GenInrArch().as_dict())


def learning_rate(cfg: TrainConfig, step: int) -> float:
    frac = min(step / max(cfg.steps, 1), 1.0)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))


def loss_on(net: GenInrNet, batch: Batch) -> torch.Tensor:
    pred = net(batch.zf, batch.prior, batch.r, batch.pixels)  # (B, P)
    target = torch.gather(batch.target.flatten(1), 1, batch.pixels)
    return (pred - target).real.abs().mean() + (pred - target).imag.abs().mean()


def _psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR of ``x`` against ``ref`` (both (ny, nx) magnitudes), peak = max of ``ref``."""
    mse = float((x - ref).pow(2).mean())
    return 10 * math.log10(float(ref.max()) ** 2 / max(mse, 1e-20))


def validate(net: GenInrNet, val: list[Batch]) -> dict:
    net.eval()
    l1, psnr, prior_psnr = [], [], []
    with torch.inference_mode():
        for b in val:
            pred = net(b.zf, b.prior, b.r)
            err = pred - b.target
            l1.append(float(err.real.abs().mean() + err.imag.abs().mean()))
            for p, t, z in zip(pred.abs(), b.target.abs(), b.prior.abs(), strict=True):
                psnr.append(_psnr(p, t))
                prior_psnr.append(_psnr(z, t))
    net.train()
    return {"val_l1": float(np.mean(l1)), "val_psnr_db": float(np.mean(psnr)),
            "val_prior_psnr_db": float(np.mean(prior_psnr))}


def validation_set(source, cfg: TrainConfig, arch: GenInrArch) -> list[Batch]:
    """``cfg.val_samples`` samples, one per batch (each its own matrix), from the seed stream (seed, -1, i)."""
    r_range = (cfg.r_min, cfg.r_max)
    return [source.batch(np.random.default_rng((cfg.seed, 2**31 - 1, i)), 1, arch.virtual_coils, r_range,
                         cfg.kt_fraction, 1, arch.prior_iterations) for i in range(cfg.val_samples)]


def _to(batch: Batch, device: torch.device) -> Batch:
    return Batch(*(getattr(batch, f).to(device) for f in ("zf", "prior", "target", "r", "pixels")))


def _save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def weights_payload(net: GenInrNet, cfg: TrainConfig, source_info: dict, history: list[dict], wall_s: float,
                    step: int, command: str) -> dict:
    return {
        "format": WEIGHTS_FORMAT, "version": 1, "arch": net.arch.as_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "trained": {"source": source_info, "config": {k: v for k, v in asdict(cfg).items() if k != "arch"},
                    "steps": int(step), "wall_s": float(wall_s), "command": command,
                    "validation": history[-1] if history else {},
                    "matrix_range": [int(min(source_info["sizes"])), int(max(source_info["sizes"]))],
                    "min_coils": int(source_info["coils"][0])},
    }


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train(source, val_source, cfg: TrainConfig, output: str | Path, checkpoint: str | Path | None = None,
          resume: bool = False, show_progress: bool = True, command: str = "", stop_after: int | None = None,
          device: str | torch.device = "cpu") -> dict:
    """Train on ``source``, validate on ``val_source``; write the weights to ``output``.

    ``stop_after``: end after that many steps in all (checkpoint and weights written), as an
    interruption would; ``resume`` then carries on to ``cfg.steps``. Samples are made on the CPU and
    moved to ``device`` for the network.

    Returns ``{"steps", "wall_s", "history", "output", "sha256", "stopped_by_budget"}``.
    """
    from inr_core.progress import Progress

    output = Path(output)
    checkpoint = Path(checkpoint) if checkpoint else output.with_name(output.name + ".ckpt")
    arch = GenInrArch.from_dict(cfg.arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = GenInrNet(arch)
    device = torch.device(device)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99), amsgrad=True)
    step, history, elapsed = 0, [], 0.0
    if resume:
        if not checkpoint.exists():
            raise ValueError(f"--resume: no checkpoint at {str(checkpoint)!r}")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{str(checkpoint)!r} is not a gen-inr training checkpoint")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, history, elapsed = int(state["step"]), list(state["history"]), float(state["elapsed"])
        log.info("resuming gen-inr training from step %d (%s)", step, checkpoint)
    val = [_to(b, device) for b in validation_set(val_source, cfg, arch)]
    r_range = (cfg.r_min, cfg.r_max)
    start = time.perf_counter() - elapsed
    stopped = False

    def save_checkpoint():
        _save({"format": CHECKPOINT_FORMAT, "model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
               "history": history, "elapsed": time.perf_counter() - start, "config": cfg.arch}, checkpoint)

    bar = Progress("train gen-inr", total=cfg.steps, unit="steps", initial=step, enabled=show_progress)
    net.train()
    while step < cfg.steps:
        if cfg.time_budget_s and time.perf_counter() - start >= cfg.time_budget_s:
            stopped = True
            log.info("time budget of %.0f s reached at step %d of %d", cfg.time_budget_s, step, cfg.steps)
            break
        if stop_after is not None and step >= stop_after:
            stopped = True
            break
        rng = np.random.default_rng((cfg.seed, step))
        batch = source.batch(rng, cfg.batch, arch.virtual_coils, r_range, cfg.kt_fraction, cfg.pixels,
                             arch.prior_iterations)
        batch = _to(batch, device)
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg, step)
        loss = loss_on(net, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.advance(1, f"loss {float(loss.detach()):.4f}")
        if step % cfg.val_every == 0 or step == cfg.steps:
            history.append({"step": step, "train_l1": float(loss.detach()), "wall_s": time.perf_counter() - start,
                            **validate(net, val)})
            log.info("step %d: %s", step, history[-1])
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint()
    bar.close()
    if not history or history[-1]["step"] != step:
        history.append({"step": step, "wall_s": time.perf_counter() - start, **validate(net, val)})
    save_checkpoint()
    wall = time.perf_counter() - start
    _save(weights_payload(net, cfg, source.describe(), history, wall, step, command), output)
    return {"steps": step, "wall_s": wall, "history": history, "output": str(output),
            "sha256": sha256_of(output), "stopped_by_budget": stopped, "checkpoint": str(checkpoint)}
