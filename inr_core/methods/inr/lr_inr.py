"""LR-INR: a low-rank INR that starts from the best classical image and moves only where the data say so.

    x_t(r) = S(r) * sum_l U_l(r) V_l(t) + R_t(r)

- ``U`` (``rank`` complex spatial basis images): a 2D multi-resolution hash grid
  (:class:`inr_core.nn.hash_grid.HashGrid`) whose ``2 * rank`` features per level are summed over
  the levels (no MLP: the levels are a coarse-to-fine parameterisation of the basis images, and with
  the finest level at the matrix, ``finest_factor`` 1, every basis image is reachable);
- ``V`` (``rank`` x frames, complex): an explicit temporal basis;
- ``S``: the support of the coil maps (ESPIRiT maps are zero where no coil sees the object);
- ``R``: a per-pixel, per-frame residual, penalised by ``residual_weight * ||R||^2`` and multiplied by
  ``1 - residual_decay`` after every step (0.1: the fit moves from the classical image to the
  rank-``rank`` series within a few tens of steps unless the data hold ``R`` up).

Start (step 0 is the classical image, exactly): the classical method of the trajectory (``llr``
Cartesian, ``grasp`` radial, built through the registry) reconstructs the data the fit sees (held-out
readouts excluded, :mod:`inr_core.methods.inr.holdout`); ``U`` and ``V`` start from the rank-``rank``
SVD of that series (``U`` fitted to the basis images in the image domain, ``init_steps`` Adam steps,
no FFT), ``R`` holds what they miss.

Loss, full batch (every frame, every coil, every step): the SENSE data term of the classical methods,
``1/2 ||A x - y||^2`` with ``A, y = encoding(...)`` (evaluated as ``1/2 x^H A^H A x - Re x^H A^H y``,
one gram per step: its gradient is ``A^H A x - A^H y``), plus the classical regulariser at
``reg_scale`` times its classical weight (LLR's block nuclear norms with a random block shift per
step, or GRASP's temporal TV), plus the residual penalty. Stopping: the held-out readouts' loss
(:func:`inr_core.methods.inr.fit.fit`'s ``validate``); the best step is kept, step 0 included.

Measured (figures, ceilings, what each option buys): ``docs/methods-inr-ceilings.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from inr_core.methods.base import Method, get_method, no_progress
from inr_core.methods.encoding import encoding
from inr_core.methods.inr.fit import FitConfig, fit, seeded
from inr_core.methods.inr.holdout import classical_stopped, split
from inr_core.methods.inr.radial_loss import grid_coordinates
from inr_core.methods.inr.refine import check_refinement, refined
from inr_core.methods.proximal import ProximalMethod
from inr_core.nn.low_rank import LowRankField

WARM = {"cartesian": "llr", "radial": "grasp"}
# Steps when `steps` is None, chosen on seed 0 (docs/methods-inr-ceilings.md): on Cartesian data the truth PSNR
# and SSIM rose over all 300 steps and the held-out loss agreed; on radial data the truth peaked near step 50
# and fell after it while the held-out spokes' loss kept falling, so the radial fit is kept short.
DEFAULT_STEPS = {"cartesian": 300, "radial": 50}
# Rank when None, chosen on seed 0 (with residual_decay 0.1): radial rank 4 +1.08 dB over GRASP after 50
# steps (rank 8 with a kept residual: +0.55 at its best step); Cartesian rank 6 +1.49 dB over LLR, rank 8 +1.01,
# rank 4 (no residual) started 0.5 dB under LLR and its held-out loss kept step 0.
DEFAULT_RANK = {"cartesian": 6, "radial": 4}
# Held-out fraction when `holdout` is None, chosen on seed 0: a radial frame that loses one of its 13 spokes
# loses much, and GRASP on 95% of the spokes scored 0.4 dB under GRASP on all (98%: 0.2 dB).
DEFAULT_HOLDOUT = {"cartesian": 0.05, "radial": 0.02}
REGULARISERS = ("", "none", "llr", "grasp")
# The classical refinement after the fit (inr/refine.py, `refine_iterations` > 0) when refine_with is "" and
# refine_pull None, chosen on seed 0 (docs/methods-inr-refinement.md): the classical regulariser that lr-inr's own
# fit does not hold. Refining with its own one only pulls the image back towards that method's minimiser, which
# lr-inr is already above (seed 0, 20 iterations, pull 0.1: llr on Cartesian data -0.16 dB, grasp on radial data
# -0.03 dB); with the other one, Cartesian grasp at pull 1 +0.12 dB (0.5: +0.10, 2: +0.10) and radial llr at pull
# 0.1 +0.74 dB (0.03: +0.04, 0.3: +0.65), SSIM higher in both.
DEFAULT_REFINE_WITH = {"cartesian": "grasp", "radial": "llr"}
DEFAULT_REFINE_PULL = {"cartesian": 1.0, "radial": 0.1}
# The classical start, when `warm_stopped`: up to this many iterations, the iterate that best predicts the held-out
# readouts kept (holdout.classical_stopped). Radial, seed 0 (docs/methods-inr-ceilings.md): GRASP's best count is
# 60 at 13 spokes and 200-300 at 5 (60 iterations: 6 dB short there); the held-out spokes chose 110 and 300, and
# lr-inr from those starts ended at 40.11 and 35.06 dB, from the fixed 60 at 40.28 and 29.10. Cartesian kt-uniform
# R8: the held-out lines kept LLR's 40th iterate (its default), so the rule changes nothing there.
STOPPED_MAX = {"cartesian": 120, "radial": 300}


@dataclass
class LrInrConfig(FitConfig):
    steps: int | None = None  # None: DEFAULT_STEPS of the trajectory
    lr: float = 3e-4  # 1e-3 measured a transient rise of the held-out loss in the first 10 steps (seed 0)
    weight_decay: float = 0.0
    rank: int | None = None  # None: DEFAULT_RANK of the trajectory; at most the frame count
    # classical start: "" = llr (Cartesian) / grasp (radial); warm_iterations 0 = that method's default
    warm_start: str = ""
    warm_iterations: int = 0
    # True: the start iterates up to warm_iterations (0: STOPPED_MAX) and keeps the iterate that best predicts the
    # held-out readouts; False: warm_iterations (0: the method's default) iterations
    warm_stopped: bool = True
    # U: 2D hash grid, 2 * rank features per level summed over levels
    levels: int = 6
    base_resolution: int = 8
    finest_factor: float = 1.0  # finest level = this many times the matrix
    log2_table_size: int = 16
    init_steps: int = 300  # image-domain fit of U to the SVD basis images
    init_lr: float = 1e-2
    residual: bool = True
    residual_weight: float = 10.0  # times ||R||^2 / 2, on the fit's intensity scale
    # R is multiplied by (1 - residual_decay) after every step: step 0 is the classical image, and the fit
    # moves to the low-rank series unless the data hold R up
    residual_decay: float = 0.1
    # "" = the warm start's own regulariser (llr -> llr, grasp -> grasp); none; llr; grasp
    regulariser: str = ""
    reg_scale: float = 1.0  # times the classical method's weight (0.5 measured worse SSIM, and on radial PSNR)
    holdout: float | None = None  # None: DEFAULT_HOLDOUT of the trajectory
    # True: once the held-out readouts have chosen the start's iterations and the step count, start again from the
    # classical image of every readout and fit every readout for as many steps (the held-out ones then cost the image
    # nothing). Seed 0: +0.08 dB Cartesian kt-uniform R8, +0.15 / +0.17 at 13 / 5 spokes, for ~1.7x the time
    refit: bool = True
    validate_every: int = 10
    patience: int = 5
    # the classical refinement (FitConfig; off unless refine_iterations > 0, as in the `refined` preset): refine_with
    # "" and refine_pull None = DEFAULT_REFINE_WITH / DEFAULT_REFINE_PULL of the trajectory (grasp Cartesian, llr
    # radial: not the llr / grasp of the other INRs, whose fits hold no classical regulariser)
    refine_pull: float | None = None


def resolved(cfg: LrInrConfig, trajectory: str) -> LrInrConfig:
    """``cfg`` with every None option set to its trajectory's default."""
    defaults = {"steps": DEFAULT_STEPS, "rank": DEFAULT_RANK, "refine_pull": DEFAULT_REFINE_PULL}
    cfg = replace(cfg, **{k: table[trajectory] for k, table in defaults.items() if getattr(cfg, k) is None})
    return replace(cfg, refine_with=cfg.refine_with or DEFAULT_REFINE_WITH[trajectory])


class _Quadratic(torch.autograd.Function):
    """``Re(x^H (G x / 2 - b))``, i.e. ``1/2 ||A x - y||^2`` less a constant, with gradient ``G x - b``:
    one gram per step (autograd through the gram would apply it twice)."""

    @staticmethod
    def forward(ctx, x, gram, b):
        g = gram(x)
        ctx.save_for_backward(g - b)
        return torch.real(torch.vdot(x.flatten(), (0.5 * g - b).flatten()))

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None


def _block_nuclear(x: torch.Tensor, block: int, shift: tuple[int, int]) -> torch.Tensor:
    """``sum_b ||C_b x||_*`` on a grid shifted by ``shift`` (LLR's penalty; differentiable)."""
    from inr_core.methods.llr import _blocks

    cas, _ = _blocks(torch.roll(x, shifts=shift, dims=(1, 2)), block)
    return torch.linalg.svdvals(cas).sum()


def _temporal_tv(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    d = torch.roll(x, -1, dims=0) - x
    return torch.sqrt(d.real**2 + d.imag**2 + eps).sum()


def init_field(cfg: LrInrConfig, image: torch.Tensor, support: torch.Tensor) -> LowRankField:
    """The field whose step 0 is ``image`` ``(T, ny, nx)`` (on the fit's scale): SVD, then U fitted to the
    basis images in the image domain, then the residual holds the rest (when ``cfg.residual``)."""
    frames, ny, nx = image.shape
    cfg = replace(cfg, rank=min(cfg.rank, frames))  # a series of T frames has rank <= T
    rank = cfg.rank
    field = LowRankField(cfg, (ny, nx), frames, support, grid_coordinates((ny, nx), support.device)).to(image.device)
    u, s, vh = torch.linalg.svd(image.reshape(frames, -1).T, full_matrices=False)
    target = u[:, :rank] * s[:rank].to(u.dtype)  # (pixels, rank)
    with torch.no_grad():
        field.v.copy_(torch.view_as_real(vh[:rank].contiguous()))
    opt = torch.optim.Adam(field.grid.parameters(), lr=cfg.init_lr)
    weight = support.reshape(-1, 1)  # outside the support U is multiplied by 0: do not fit it there
    for _ in range(cfg.init_steps):
        loss = ((field.basis() - target).abs() ** 2 * weight).sum() / max(float(weight.sum()) * rank, 1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if field.r is not None:
        with torch.no_grad():
            field.r.copy_(torch.view_as_real((image - field.low_rank()).contiguous()))
    return field


class LrInr(Method):
    """Low-rank INR (hash-grid spatial basis x temporal basis, + residual) from the best classical image."""

    name = "lr-inr"
    Config = LrInrConfig
    trajectories = ("cartesian", "radial")
    min_frames = 2
    presets = {
        "fast": {},  # the defaults: chosen on seed 0 (docs/methods-inr-ceilings.md)
        # the defaults, then 20 iterations of the classical refinement (DEFAULT_REFINE_WITH / _PULL; seed 0)
        "refined": {"refine_iterations": 20},
        # a few steps at small sizes: shows that the chain runs (tests, the GPU check's CPU rehearsal)
        "smoke": {"steps": 6, "init_steps": 10, "warm_iterations": 3, "levels": 3, "rank": 2,
                  "validate_every": 2, "patience": 0},
    }

    # step 0 alone: the classical start, computed without the held-out readouts (the benches' start rows)
    start_options = {"steps": 0, "refine_iterations": 0}

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        cfg = self.config
        if cfg.regulariser not in REGULARISERS:
            raise ValueError(f"lr-inr: unknown regulariser {cfg.regulariser!r} (known: llr, grasp, none, "
                             "or empty for the warm start's own)")
        warm = cfg.warm_start or WARM[data.trajectory]
        if data.trajectory not in get_method(warm).trajectories:
            raise ValueError(f"lr-inr: warm_start {warm!r} does not reconstruct {data.trajectory} data")
        if self.stopped(data.trajectory) and not issubclass(get_method(warm), ProximalMethod):
            raise ValueError(f"lr-inr: warm_stopped needs an iterative warm_start (llr, grasp, l-plus-s), not {warm!r}")
        if cfg.rank is not None and cfg.rank < 1:
            raise ValueError(f"lr-inr: rank must be >= 1, got {cfg.rank}")
        if cfg.residual_decay >= 1:
            raise ValueError(f"lr-inr: residual_decay must be in [0, 1), got {cfg.residual_decay}")
        check_refinement(self, data, coil_maps, resolved(cfg, data.trajectory))

    def holdout(self, trajectory: str) -> float:
        return DEFAULT_HOLDOUT[trajectory] if self.config.holdout is None else self.config.holdout

    def stopped(self, trajectory: str) -> bool:
        """Whether the classical start is stopped on the held-out readouts (``warm_stopped``)."""
        return self.config.warm_stopped and self.holdout(trajectory) > 0

    def warm_config(self, trajectory: str):
        cfg = self.config
        name = cfg.warm_start or WARM[trajectory]
        iterations = cfg.warm_iterations or (STOPPED_MAX[trajectory] if self.stopped(trajectory) else 0)
        return name, get_method(name).make_config(**({"iterations": iterations} if iterations else {}))

    def start(self, data, held, coil_maps) -> tuple[torch.Tensor, int]:
        """The classical start on ``data`` (the fit part): ``(image, iterations it ran)``."""
        from inr_core.methods.base import build

        name, warm_cfg = self.warm_config(data.trajectory)
        method = build(name, warm_cfg, self.device)
        if self.stopped(data.trajectory) and held is not None:
            return classical_stopped(method, data.to(self.device), held.to(self.device), coil_maps)
        return method(data, coil_maps), warm_cfg.iterations

    def reconstruct(self, data, coil_maps, progress):
        from inr_core.methods.base import build

        fit_data, held = split(data, self.holdout(data.trajectory), self.config.seed)
        name, warm_cfg = self.warm_config(data.trajectory)
        progress(0, 1, f"lr-inr: {name} start")
        warm, iterations = self.start(fit_data, held, coil_maps)
        images, report = self.refine(fit_data, held, coil_maps, warm, progress)
        if self.config.refit and held is not None:
            # the held-out readouts chose the start's iterations and the step count: every readout, the same counts
            steps = report.best_step or 0
            progress(0, 1, f"lr-inr: {name} ({iterations} iterations) and {steps} steps on every readout")
            warm = build(name, replace(warm_cfg, iterations=iterations), self.device)(data, coil_maps)
            again = LrInr(replace(self.config, steps=steps), self.device)
            images, _ = again.refine(data, None, coil_maps, warm, progress)
            if not steps:  # the fit loop reports nothing for 0 steps: progress must still end at done == total
                progress(1, 1, f"lr-inr: {name} ({iterations} iterations) on every readout, 0 steps")
        # all the data: `held` was for stopping only
        return refined(images, data, coil_maps, resolved(self.config, data.trajectory), progress)

    def refine(self, data, held, coil_maps, warm: torch.Tensor, progress=no_progress, trace=None):
        """Fit the field from ``warm`` to ``data`` (validated on ``held``); ``(images, FitReport)``.

        ``trace(step, images)``, when given, sees the images at every validation (measurements only).
        """
        cfg = self.config
        cfg = resolved(cfg, data.trajectory)
        name, warm_cfg = self.warm_config(data.trajectory)
        a, y = encoding(data, coil_maps)
        scale = float(warm.abs().max())
        if not scale > 0:
            raise ValueError("lr-inr: the classical start is zero everywhere (no signal to fit)")
        y = y / scale
        b = a.H(y)
        gram = a.gram
        support = ((coil_maps.abs() ** 2).sum(0) > 1e-6).to(torch.float32)
        reg_name = cfg.regulariser or name
        regulariser, weight = self._regulariser(reg_name, warm_cfg if reg_name == name else None, a, b, data)
        block = getattr(warm_cfg, "block", 8) if reg_name == name else 8  # LLR's block side (8 by default)
        held_a = held_y = None
        if held is not None:
            held_a, held_y = encoding(held, coil_maps, toeplitz=False)
            held_y = held_y / scale
        with seeded(cfg.seed, self.device):
            field = init_field(cfg, warm / scale, support)
            shifts = torch.randint(0, block, (cfg.steps, 2)).tolist()  # LLR's random block offsets, per step

            def loss_fn(step):
                x = field()
                loss = _Quadratic.apply(x, gram, b)
                if weight:
                    loss = loss + cfg.reg_scale * weight * regulariser(x, tuple(shifts[step]))
                if field.r is not None and cfg.residual_weight:
                    loss = loss + 0.5 * cfg.residual_weight * (field.r**2).sum()
                return loss

            validate = None
            if held_a is not None:
                def validate():
                    x = field()
                    if trace is not None:
                        trace(len(report_steps), x * scale)
                    report_steps.append(0)
                    return float((held_a(x) - held_y).abs().pow(2).sum())

                report_steps: list[int] = []
            def after_step(step):
                if field.r is not None and cfg.residual_decay:
                    with torch.no_grad():
                        field.r.mul_(1 - cfg.residual_decay)

            report = fit([field], loss_fn, cfg, progress, "lr-inr", validate=validate, after_step=after_step)
            with torch.no_grad():
                images = field() * scale
        return images.to(torch.complex64), report

    @staticmethod
    def _regulariser(name: str, warm_cfg, a, b, data):
        """``(penalty(x, shift), weight)``: the classical method's penalty and its weight on the fit's scale."""
        if name == "none":
            return None, 0.0
        from inr_core.methods.solvers import lipschitz_bound

        if name == "llr":
            from inr_core.methods.llr import LLRConfig, largest_block_singular_value

            cfg = warm_cfg or LLRConfig()
            # llr.py: lambda = lam * s_max * ||A^H A|| (its threshold per step of 1 / ||A^H A|| is lam * s_max)
            weight = cfg.lam * largest_block_singular_value(b, cfg.block) * lipschitz_bound(a, b)
            return (lambda x, shift: _block_nuclear(x, cfg.block, shift)), weight
        from inr_core.methods.grasp import DEFAULT_LAM, GraspConfig

        cfg = warm_cfg or GraspConfig()
        lam = DEFAULT_LAM[data.trajectory] if cfg.lam is None else cfg.lam
        return (lambda x, shift: _temporal_tv(x)), lam * float(b.abs().max())


def oracle_fit(truth: torch.Tensor, coil_maps: torch.Tensor, cfg: LrInrConfig) -> torch.Tensor:
    """The parameterisation's ceiling: ``S * U V`` (no residual) fitted to the truth itself, no k-space,
    from the truth's SVD, ``cfg.steps`` Adam steps of the image-domain squared error (docs/methods-inr-ceilings.md)."""
    support = ((coil_maps.abs() ** 2).sum(0) > 1e-6).to(torch.float32)
    scale = float(truth.abs().max())
    target = truth.to(torch.complex64) / scale
    cfg = replace(resolved(cfg, "cartesian"), residual=False)
    with seeded(cfg.seed, truth.device):
        field = init_field(cfg, target, support)
        fit([field], lambda step: (field() - target).abs().pow(2).sum(), cfg, no_progress, "lr-inr oracle")
        with torch.no_grad():
            return field() * scale


def step_seconds(data, coil_maps, preset: str = "fast", steps: int = 5) -> float:
    """CPU seconds per fit step (full batch): the CPU time of ``1 + steps`` steps less that of 1, over
    ``steps``, after a first, uncounted run; the zero-filled image as start (the cost does not depend on it)."""
    from inr_core.methods import build

    start = build("zero-filled")(data, coil_maps)
    cpu = []
    for n in (1, 1, 1 + steps):  # the first run pays one-off costs (allocations, lazy imports): not counted
        method = LrInr(LrInr.make_config(preset, steps=n, init_steps=1, holdout=0.0))
        t0 = time.process_time()
        method.refine(data, None, coil_maps, start)
        cpu.append(time.process_time() - t0)
    return (cpu[2] - cpu[1]) / steps
