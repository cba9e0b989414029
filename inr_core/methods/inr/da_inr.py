"""DA-INR (Baik and Yoo, seeds/da-inr.txt): a deformation network into a canonical hash-grid image.

For a pixel ``(x, y)`` of frame ``t`` a bias-free ReLU MLP on NeRF frequency encodings
(``[p, sin(2^k pi p), cos(2^k pi p)]``, degree 10 for x and y, 6 for t) gives a displacement
``(dx, dy)``; a canonical network reads a 2D multi-resolution hash grid
(:class:`inr_core.nn.hash_grid.HashGrid`) at ``(x + dx, y + dy)``, concatenates optional frozen
image features, and a small ReLU MLP gives the complex value (2 outputs). All frames share the
canonical image: that is the whole temporal prior, no regulariser is added. Loss: L1 on real and
imaginary parts of the multi-coil NUFFT of one random frame (``frames_per_step``) against its
acquired spokes (:mod:`inr_core.methods.inr.radial_loss`); AdamW, lr 1e-3, a fixed number of steps.

Choices where the paper is silent or its public code differs (``../shared/reference/methods.md``):

- deformation net width 128 (the public code; the paper says 64), 5 bias-free layers; its last
  layer starts at zero, so the fit starts from the identity deformation;
- features: ``none`` by default; ``random-mdsr`` is what the public code does: a frozen random-init
  head (3x3 conv and two residual blocks, 64 channels) on the gridded frames t-1 and t+1 (real and
  imaginary parts; cyclic neighbours). No pretrained MDSR weights are available here, and the random
  head measured 2-7 dB worse on the realistic simulation (it hands the canonical MLP the neighbours'
  streaks);
- the grid: the defaults (and ``paper``) are the paper's (16 levels, base 16, growth 2, 2^19);
  ``fast`` and ``quality`` size it to the image (``finest_factor`` 1: finest level = the matrix, 2^14
  entries), which measured both faster and 4-5 dB better: levels far finer than a pixel are free
  per-pixel parameters that fit noise;
- the canonical MLP is ``canonical_layers`` hidden layers of ``canonical_width`` (paper: 5 x 64);
- outputs outside the coil maps' support are zero (the data do not constrain them);
- ``out_scale`` queries the same field of view on a ``round(scale * n)`` matrix at its pixel
  centres (features bilinearly resampled, as the paper does); ``out_frames`` queries evenly
  spaced cardiac phases (features linearly interpolated between neighbouring frames).

Design, measured figures and what differs from the paper: ``docs/methods-da-inr.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from inr_core.methods.inr.fit import fit, seeded
from inr_core.methods.inr.radial_image import RadialImageInr, RadialImageInrConfig, time_rows
from inr_core.methods.inr.radial_loss import frame_times, grid_coordinates, resample
from inr_core.nn.mdsr import neighbour_features
from inr_core.nn.radial_image import DaInrNet

FEATURES = ("none", "random-mdsr")


@dataclass
class DaInrConfig(RadialImageInrConfig):
    # deformation network (frequency-encoded x, y, t -> dx, dy)
    degree_xy: int = 10
    degree_t: int = 6
    deform_width: int = 128
    deform_layers: int = 5
    # canonical network: 2D hash grid (RadialImageInrConfig) + features -> MLP -> (re, im)
    canonical_width: int = 64
    canonical_layers: int = 5
    # none | random-mdsr (frozen random-init MDSR head on frames t-1, t+1, as the public code): none measured
    # better here (docs/methods-da-inr.md)
    features: str = "none"
    feature_channels: int = 64


class DaInr(RadialImageInr[DaInrConfig]):
    """DA-INR (radial cine): deformation network into a shared canonical hash-grid image, k-space L1."""

    name = "da-inr"
    Config = DaInrConfig
    presets = {
        "paper": {},
        # <= 5 minutes at 128x128x23, 13 spokes, 8 coils on the 2-core CPU (docs/methods-da-inr.md)
        # (both: the step that best predicts 5% of the spokes held out of the fit, inr/fit.py)
        "fast": {"steps": 600, "finest_factor": 1.0, "log2_table_size": 14, "lr_decay": 0.5, "decay_every": 150,
                 "holdout": 0.05, "validate_every": 50},
        # the fast grid and schedule over 1000 steps (the paper's count): +1.4 dB on seed 0, twice the time
        "quality": {"steps": 1000, "finest_factor": 1.0, "log2_table_size": 14, "lr_decay": 0.5, "decay_every": 250,
                    "holdout": 0.05, "validate_every": 50},
    }

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        if self.config.features not in FEATURES:
            raise ValueError(f"da-inr: unknown features {self.config.features!r} (known: {', '.join(FEATURES)})")

    def reconstruct(self, data, coil_maps, progress):
        cfg, device = self.config, self.device
        problem, held = self.problem(data, coil_maps)
        frames, shape = problem.frames, problem.image_shape
        with seeded(cfg.seed, device):
            feats = None
            if cfg.features == "random-mdsr":
                feats = neighbour_features(problem.gridded, cfg.feature_channels)  # (T, C, ny, nx)
            net = DaInrNet(cfg, 0 if feats is None else feats.shape[1], max(shape)).to(device)
            xy = grid_coordinates(shape, device)
            times = frame_times(frames, frames, device)
            rows = [_rows(xy, times[k], None if feats is None else feats[k]) for k in range(frames)]
            batch = min(cfg.frames_per_step, frames)

            def loss_fn(step):
                pick = torch.randperm(frames, device=device)[:batch]
                images = net(torch.cat([rows[int(k)] for k in pick])).view(batch, *shape)
                return problem.loss(images, pick)

            fit([net], loss_fn, cfg, progress, "da-inr", validate=self.validator(net, problem, held, rows.__getitem__))
        return self.predict(net, problem, self._output_rows(problem, feats))

    def _output_rows(self, problem, feats):
        """Output rows; features resampled to the output matrix, at phase tau linear between neighbours (cyclic)."""
        if feats is None:
            return lambda xy, j, t: _rows(xy, t, None)
        frames_out, *shape = self.output_shape(problem)
        feats_out = resample(feats, tuple(shape))

        def rows(xy, j, t):
            tau = j * problem.frames / frames_out
            k0, w = int(math.floor(tau)), tau - math.floor(tau)
            f = (1 - w) * feats_out[k0 % problem.frames] + w * feats_out[(k0 + 1) % problem.frames]
            return _rows(xy, t, f)

        return rows


def _rows(xy, t, feats):
    if feats is None:
        return time_rows(xy, t)
    return torch.cat([time_rows(xy, t), feats.reshape(feats.shape[0], -1).T], dim=-1)
