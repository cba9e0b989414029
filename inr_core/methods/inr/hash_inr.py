"""HashINR (Feng et al. 2023, as the DA-INR paper runs it): a 3D hash grid on (x, y, t) and a ReLU MLP.

``(x, y, t)`` -> :class:`inr_core.nn.hash_grid.HashGrid` (3D; 16 levels, 2 features, base 16,
growth 2) -> ReLU MLP (5 hidden layers of 128) -> (re, im). The loss is DA-INR's: L1 on real and
imaginary parts of the multi-coil NUFFT of the predicted frames against their spokes
(:mod:`inr_core.methods.inr.radial_loss`), ``frames_per_step`` random frames per step. The grid's
levels are unmasked coarse to fine: only the first ``start_levels`` contribute at first, the rest
join one by one, evenly over the first ``unmask_fraction`` of the steps. Adam (``weight_decay``
0), lr 1e-3.

Feng et al. add temporal TV and low-rank (nuclear norm) terms; the DA-INR paper runs HashINR
without them, and so do the defaults here (``tv_weight`` = ``lowrank_weight`` = 0). When either is
set, each step's frames are a cyclic window of consecutive frames (so temporal differences exist):
``tv_weight * mean |x_{k+1} - x_k|`` and ``lowrank_weight * ||X||_* / (pixels * frames)`` of the
window's Casorati matrix, on the fit's intensity scale (data divided by the gridded image's max).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inr_core.methods.base import Method
from inr_core.methods.inr.da_inr import mlp
from inr_core.methods.inr.fit import FitConfig, chunked, fit, seeded
from inr_core.methods.inr.holdout import split
from inr_core.methods.inr.radial_loss import (
    RadialProblem,
    check_out_options,
    frame_times,
    grid_coordinates,
    output_matrix,
)
from inr_core.nn.hash_grid import HashGrid


@dataclass
class HashInrConfig(FitConfig):
    steps: int = 1000
    weight_decay: float = 0.0  # Adam, as Feng et al.
    frames_per_step: int = 1
    levels: int = 16
    level_features: int = 2
    base_resolution: int = 16
    growth: float = 2.0
    log2_table_size: int = 19
    # > 0: the finest level's resolution is this many times the matrix (growth from eq. 8) instead of `growth`
    finest_factor: float = 0.0
    width: int = 128
    layers: int = 5
    start_levels: int = 4  # levels active from the first step (coarse-to-fine unmasking)
    unmask_fraction: float = 0.5  # all levels active after this fraction of the steps
    tv_weight: float = 0.0  # temporal TV (Feng et al.; off as in the DA-INR paper)
    lowrank_weight: float = 0.0  # nuclear norm of the Casorati matrix (off as in the DA-INR paper)
    out_scale: float = 1.0
    out_frames: int = 0


class HashInrNet(torch.nn.Module):
    def __init__(self, cfg: HashInrConfig, matrix: int):
        super().__init__()
        finest = max(int(round(cfg.finest_factor * matrix)), cfg.base_resolution) if cfg.finest_factor > 0 else None
        self.grid = HashGrid(3, levels=cfg.levels, features=cfg.level_features, base_resolution=cfg.base_resolution,
                             growth=cfg.growth, table_size=2**cfg.log2_table_size,
                             finest_resolution=finest)
        self.mlp = mlp(self.grid.out_features, cfg.width, cfg.layers, 2)
        self.active_levels: int | None = None

    def forward(self, xyt: torch.Tensor) -> torch.Tensor:
        out = self.mlp(self.grid(xyt, active_levels=self.active_levels))
        return torch.complex(out[:, 0], out[:, 1])


class HashInr(Method):
    """HashINR (radial cine): 3D hash grid on (x, y, t) with a ReLU MLP, k-space L1, no regulariser by default."""

    name = "hash-inr"
    Config = HashInrConfig
    trajectories = ("radial",)
    # Works on one frame too (then it is a 2D hash INR), but t carries nothing and the regularisers are temporal.
    min_frames = 2
    presets = {
        "paper": {},
        # DA-INR's fast schedule on a smaller table and MLP (not tuned further: it is the baseline)
        "fast": {"steps": 600, "log2_table_size": 16, "width": 64, "layers": 3, "lr_decay": 0.5, "decay_every": 150,
                 "holdout": 0.05, "validate_every": 50},  # honest stopping on 5% held-out spokes (inr/fit.py)
    }

    def output_shape(self, data) -> tuple[int, int, int]:
        frames = self.config.out_frames or data.frames
        return (frames, *output_matrix(data.image_shape, self.config.out_scale))

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        check_out_options(self.config.out_scale, self.config.out_frames)
        if self.config.frames_per_step < 1:
            raise ValueError("hash-inr: frames_per_step must be >= 1")
        if (self.config.tv_weight or self.config.lowrank_weight) and self.config.frames_per_step < 2:
            raise ValueError("hash-inr: tv_weight and lowrank_weight need frames_per_step >= 2")

    def reconstruct(self, data, coil_maps, progress):
        cfg, device = self.config, self.device
        fit_data, held = split(data, cfg.holdout, cfg.seed)
        problem = RadialProblem.from_data(fit_data, coil_maps)
        frames, shape = problem.frames, problem.image_shape
        xy = grid_coordinates(shape, device)
        times = frame_times(frames, frames, device)
        batch = min(cfg.frames_per_step, frames)
        regularised = bool(cfg.tv_weight or cfg.lowrank_weight)
        ramp = max(int(cfg.unmask_fraction * cfg.steps), 1)
        with seeded(cfg.seed, device):
            net = HashInrNet(cfg, max(shape)).to(device)

            def loss_fn(step):
                joined = cfg.start_levels + (cfg.levels - cfg.start_levels) * step // ramp
                net.active_levels = min(max(joined, 1), cfg.levels)
                if regularised:
                    first = int(torch.randint(frames, (1,), device=device))
                    pick = (torch.arange(batch, device=device) + first) % frames
                else:
                    pick = torch.randperm(frames, device=device)[:batch]
                rows = torch.cat([_rows(xy, times[k]) for k in pick])
                images = net(rows).view(batch, *shape)
                loss = problem.loss(images, pick)
                if cfg.tv_weight:
                    loss = loss + cfg.tv_weight * (images[1:] - images[:-1]).abs().mean()
                if cfg.lowrank_weight:
                    casorati = images.reshape(batch, -1)
                    loss = loss + cfg.lowrank_weight * torch.linalg.svdvals(casorati).sum() / casorati.numel()
                return loss

            validate = None
            if held is not None:  # the held-out spokes' loss, frames that have any (fit.py: honest stopping)
                scored = held.spoke_mask.any(1).nonzero().flatten()

                def validate():
                    images = torch.stack([chunked(net, _rows(xy, times[k]), cfg.chunk).view(shape) for k in scored])
                    return float(problem.loss(images, scored, mask=held.spoke_mask))

            fit([net], loss_fn, cfg, progress, "hash-inr", validate=validate)
            net.active_levels = None
        return self._predict(net, problem) * problem.scale

    @torch.no_grad()
    def _predict(self, net, problem):
        frames_out, *shape = self.output_shape(problem)
        shape = tuple(shape)
        xy = grid_coordinates(shape, problem.maps.device)
        support = problem.support(shape)
        out = [chunked(net, _rows(xy, t), self.config.chunk).view(shape) * support
               for t in frame_times(frames_out, problem.frames, xy.device)]
        return torch.stack(out).to(torch.complex64)


def _rows(xy: torch.Tensor, t) -> torch.Tensor:
    return torch.cat([xy, torch.full((len(xy), 1), float(t), device=xy.device)], dim=-1)
