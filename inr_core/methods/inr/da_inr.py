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

Warm start (``warm_start="grasp"``, preset ``warm``; issue 19 item 4): the classical image of the fitted spokes
is the start. The canonical network is fitted to its temporal mean and then the whole network (deformation too)
to the series, both in the image domain (no NUFFT); a frozen per-frame residual holds what the network misses,
so step 0 is the classical image, and fades during the k-space fit; the held-out spokes keep step 0 unless a
later step predicts them better.

Design, measured figures and what differs from the paper: ``docs/methods-da-inr.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from inr_core.methods.base import build, get_method
from inr_core.methods.inr.fit import chunked, fit, seeded
from inr_core.methods.inr.holdout import split
from inr_core.methods.inr.radial_image import RadialImageInr, RadialImageInrConfig, time_rows
from inr_core.methods.inr.radial_loss import RadialProblem, frame_times, grid_coordinates, resample
from inr_core.nn.mdsr import neighbour_features
from inr_core.nn.radial_image import DaInrNet, FrameResidual

FEATURES = ("none", "random-mdsr")
# Preset `warm` (issue 19 item 4; chosen on seed 0, docs/methods-da-inr.md): from GRASP of the fitted spokes, step 0
# is that image; the network is fitted to it in the image domain, then to the spokes while the residual fades; the
# held-out spokes (2%, lr-inr's radial fraction) pick the step, step 0 included.
WARM = {"steps": 300, "finest_factor": 1.0, "log2_table_size": 14, "lr_decay": 0.5, "decay_every": 100,
        "warm_start": "grasp", "init_steps": 100, "image_steps": 300, "residual": True, "residual_decay": 0.02,
        "frames_per_step": 2, "holdout": 0.02, "validate_every": 10, "patience": 5}


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
    # Warm start (issue 19 item 4; "" = the paper's random initialisation): the classical method named here
    # (registry; warm_iterations 0 = its default) reconstructs the fitted spokes (held-out ones excluded); the
    # canonical network is fitted to that series' temporal mean in the image domain (init_steps Adam steps at
    # init_lr, identity deformation, no NUFFT), then the whole network (deformation too) to the series itself
    # (image_steps steps of frames_per_step frames at lr, no NUFFT). With `residual` a per-frame image R_k holds
    # the classical series less the network's, so that step 0 is the classical image; R is not fitted (a fitted
    # per-pixel R followed the noise) and is multiplied by (1 - residual_decay) after every k-space step.
    warm_start: str = ""
    warm_iterations: int = 0
    init_steps: int = 300
    init_lr: float = 1e-2
    image_steps: int = 0
    residual: bool = False
    residual_decay: float = 0.0
    # coarse to fine (0: every level from the first step): only the first `start_levels` levels of the grid
    # contribute at first, the rest join evenly over the first `unmask_fraction` of the steps (HashINR's schedule)
    start_levels: int = 0
    unmask_fraction: float = 0.5


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
        "warm": WARM,
        # `warm` then issue 19 item 5's classical refinement at its defaults (inr/refine.py: 20 LLR iterations pulled
        # towards the INR's image, all spokes). Seed 0, 13 spokes: 41.02 dB against `warm` 38.44, GRASP 39.20
        "warm-refined": {**WARM, "refine_iterations": 20},
    }

    # Measurements only (docs/da_inr_warm.py): called with the output series (data scale) at every validation.
    trace: Callable[[torch.Tensor], None] | None = None

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        cfg = self.config
        if cfg.features not in FEATURES:
            raise ValueError(f"da-inr: unknown features {cfg.features!r} (known: {', '.join(FEATURES)})")
        if cfg.warm_start:
            if data.trajectory not in get_method(cfg.warm_start).trajectories:  # unknown names: the registry's error
                raise ValueError(f"da-inr: warm_start {cfg.warm_start!r} does not reconstruct {data.trajectory} data")
            if cfg.features != "none":
                raise ValueError("da-inr: warm_start needs features=none (the warm start fits the canonical "
                                 "network alone)")
        elif cfg.residual:
            raise ValueError("da-inr: residual needs a warm_start (it holds the classical image less the network's)")
        if cfg.residual and (cfg.out_scale != 1 or cfg.out_frames):
            raise ValueError("da-inr: residual holds one image per acquired frame and pixel: it needs out_scale=1 "
                             "and out_frames=0")
        if not 0 <= cfg.residual_decay < 1:
            raise ValueError(f"da-inr: residual_decay must be in [0, 1), got {cfg.residual_decay}")
        if cfg.init_steps < 0 or cfg.image_steps < 0:
            raise ValueError("da-inr: init_steps and image_steps must be >= 0")
        if not 0 <= cfg.start_levels <= cfg.levels:
            raise ValueError(f"da-inr: start_levels must be in [0, levels={cfg.levels}] (0: all), "
                             f"got {cfg.start_levels}")

    def reconstruct(self, data, coil_maps, progress):
        cfg, device = self.config, self.device
        problem, held = self.problem(data, coil_maps)
        frames, shape = problem.frames, problem.image_shape
        warm = self._warm_start(data, coil_maps, problem, progress) if cfg.warm_start else None
        with seeded(cfg.seed, device):
            feats = None
            if cfg.features == "random-mdsr":
                feats = neighbour_features(problem.gridded, cfg.feature_channels)  # (T, C, ny, nx)
            net = DaInrNet(cfg, 0 if feats is None else feats.shape[1], max(shape)).to(device)
            xy = grid_coordinates(shape, device)
            times = frame_times(frames, frames, device)
            rows = [_rows(xy, times[k], None if feats is None else feats[k]) for k in range(frames)]
            batch = min(cfg.frames_per_step, frames)
            residual = None
            if warm is not None:
                support = problem.support()
                fit_canonical(net, xy, warm.mean(0), support, cfg.init_steps, cfg.init_lr)
                fit_series(net, rows, warm, support, cfg.image_steps, cfg.lr, batch)
                if cfg.residual:
                    residual = FrameResidual(frames, shape).to(device).requires_grad_(False)
                    with torch.no_grad():
                        fitted = torch.stack([chunked(net, rows[k], cfg.chunk).view(shape) for k in range(frames)])
                        residual.r.copy_(torch.view_as_real((warm - fitted) * support))
            modules = [net] if residual is None else [net, residual]  # both restored to the best step

            def image(pick: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
                images = values.view(len(pick), *shape)
                return images if residual is None else images + residual(pick)

            ramp = max(int(cfg.unmask_fraction * cfg.steps), 1)

            def loss_fn(step):
                if cfg.start_levels:
                    joined = cfg.start_levels + (cfg.levels - cfg.start_levels) * step // ramp
                    net.active_levels = min(joined, cfg.levels)
                pick = torch.randperm(frames, device=device)[:batch]
                images = image(pick, net(torch.cat([rows[int(k)] for k in pick])))
                return problem.loss(images, pick)

            def after_step(step):
                if residual is not None and cfg.residual_decay:
                    with torch.no_grad():
                        residual.r.mul_(1 - cfg.residual_decay)

            def frame(k: int) -> torch.Tensor:
                return image(torch.tensor([k], device=device), chunked(net, rows[k], cfg.chunk))[0]

            validate = self._validator(frame, problem, held)
            fit(modules, loss_fn, cfg, progress, "da-inr", after_step=after_step, validate=validate,
                parameters=list(net.parameters()))
            net.active_levels = None
            return self._output(net, residual, problem, feats)

    def _output(self, net, residual, problem, feats) -> torch.Tensor:
        images = self.predict(net, problem, self._output_rows(problem, feats))
        if residual is not None:
            with torch.no_grad():
                every = torch.arange(problem.frames, device=problem.maps.device)
                images = images + residual(every) * problem.support() * problem.scale
        return images.to(torch.complex64)

    def _validator(self, frame: Callable[[int], torch.Tensor], problem: RadialProblem, held):
        """The held-out spokes' loss of ``frame(k)`` (the network plus the residual: the base's
        :meth:`validator` scores the network alone) over the frames that have any; also calls :attr:`trace`."""
        if held is None:
            return None
        scored = held.spoke_mask.any(1).nonzero().flatten()

        def validate() -> float:
            if self.trace is not None:
                series = torch.stack([frame(k) for k in range(problem.frames)])
                self.trace(series * problem.support() * problem.scale)
            images = torch.stack([frame(int(k)) for k in scored])
            return float(problem.loss(images, scored, mask=held.spoke_mask))

        return validate

    def _warm_start(self, data, coil_maps, problem: RadialProblem, progress) -> torch.Tensor:
        """The classical series of the fitted spokes (held-out ones excluded), on the fit's scale."""
        cfg = self.config
        fit_data, _ = split(data, cfg.holdout, cfg.seed)  # the same draw as problem()
        overrides: dict[str, object] = {"iterations": cfg.warm_iterations} if cfg.warm_iterations else {}
        progress(0, 1, f"da-inr: {cfg.warm_start} start")
        warm = build(cfg.warm_start, get_method(cfg.warm_start).make_config(None, **overrides), self.device)(
            fit_data, coil_maps)
        return warm.to(torch.complex64) / problem.scale

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


def fit_canonical(net: DaInrNet, xy: torch.Tensor, target: torch.Tensor, support: torch.Tensor, steps: int,
                  lr: float) -> float:
    """Fit the canonical network (grid + MLP) to ``target`` ``(ny, nx)`` inside ``support`` in the image domain
    (Adam, ``steps`` full-image steps); the deformation is not evaluated (it starts at the identity).
    Returns the final mean squared error inside the support."""
    params = [*net.grid.parameters(), *net.canonical.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    target, weight = target.reshape(-1), support.reshape(-1)
    count = max(float(weight.sum()), 1.0)
    value = float("nan")
    for _ in range(steps):
        loss = ((net.canonical_image(xy) - target).abs().pow(2) * weight).sum() / count
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
    return value


def fit_series(net: DaInrNet, rows: list[torch.Tensor], target: torch.Tensor, support: torch.Tensor, steps: int,
               lr: float, batch: int) -> None:
    """Fit the whole network to the series ``target`` ``(T, ny, nx)`` inside ``support`` in the image domain
    (Adam, ``steps`` steps of ``batch`` random frames; no NUFFT)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    weight = support.reshape(1, -1)
    count = max(float(weight.sum()), 1.0) * batch
    for _ in range(steps):
        pick = torch.randperm(len(rows), device=target.device)[:batch]
        values = net(torch.cat([rows[int(k)] for k in pick])).view(batch, -1)
        loss = ((values - target[pick].reshape(batch, -1)).abs().pow(2) * weight).sum() / count
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _rows(xy, t, feats):
    if feats is None:
        return time_rows(xy, t)
    return torch.cat([time_rows(xy, t), feats.reshape(feats.shape[0], -1).T], dim=-1)
