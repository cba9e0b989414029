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

from inr_core.methods.inr.fit import fit, seeded
from inr_core.methods.inr.radial_image import RadialImageInr, RadialImageInrConfig, time_rows
from inr_core.methods.inr.radial_loss import frame_times, grid_coordinates
from inr_core.nn.radial_image import HashInrNet


@dataclass
class HashInrConfig(RadialImageInrConfig):
    weight_decay: float = 0.0  # Adam, as Feng et al.
    width: int = 128
    layers: int = 5
    start_levels: int = 4  # levels active from the first step (coarse-to-fine unmasking)
    unmask_fraction: float = 0.5  # all levels active after this fraction of the steps
    tv_weight: float = 0.0  # temporal TV (Feng et al.; off as in the DA-INR paper)
    lowrank_weight: float = 0.0  # nuclear norm of the Casorati matrix (off as in the DA-INR paper)


class HashInr(RadialImageInr[HashInrConfig]):
    """HashINR (radial cine): 3D hash grid on (x, y, t) with a ReLU MLP, k-space L1, no regulariser by default."""

    name = "hash-inr"
    Config = HashInrConfig
    # min_frames 2 (base): one frame works too (a 2D hash INR), but t carries nothing and the regularisers are temporal.
    presets = {
        "paper": {},
        # DA-INR's fast schedule on a smaller table and MLP (not tuned further: it is the baseline)
        "fast": {"steps": 600, "log2_table_size": 16, "width": 64, "layers": 3, "lr_decay": 0.5, "decay_every": 150,
                 "holdout": 0.05, "validate_every": 50},  # honest stopping on 5% held-out spokes (inr/fit.py)
    }

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        if (self.config.tv_weight or self.config.lowrank_weight) and self.config.frames_per_step < 2:
            raise ValueError("hash-inr: tv_weight and lowrank_weight need frames_per_step >= 2")

    def reconstruct(self, data, coil_maps, progress):
        cfg, device = self.config, self.device
        problem, held = self.problem(data, coil_maps)
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
                rows = torch.cat([time_rows(xy, times[k]) for k in pick])
                images = net(rows).view(batch, *shape)
                loss = problem.loss(images, pick)
                if cfg.tv_weight:
                    loss = loss + cfg.tv_weight * (images[1:] - images[:-1]).abs().mean()
                if cfg.lowrank_weight:
                    casorati = images.reshape(batch, -1)
                    loss = loss + cfg.lowrank_weight * torch.linalg.svdvals(casorati).sum() / casorati.numel()
                return loss

            validate = self.validator(net, problem, held, lambda k: time_rows(xy, times[k]))
            fit([net], loss_fn, cfg, progress, "hash-inr", validate=validate)
            net.active_levels = None
        return self.predict(net, problem, lambda xy, j, t: time_rows(xy, t))
