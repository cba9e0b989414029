"""The one fitting loop of the scan-specific INRs: optimiser, schedule, seed, progress, budgets.

Each INR file holds its network and its loss; this loop holds everything else, so that every INR
has the same options with the same meaning (:class:`FitConfig`, which an INR's config extends) and
the same guarantees:

- seeded: the same data and config give the same images (the global RNG is left as it was);
- AdamW with step decay (``lr * lr_decay ** (step // decay_every)``, floored at ``lr_min``);
- ``steps`` optimiser steps chosen in advance; ``time_budget_s`` (0: none) ends the fit earlier;
- with ``keep_best``, the parameters of the lowest training loss seen (a running mean over
  ``best_window`` steps, because batch losses are noisy) are restored at the end: never chosen
  against a ground truth, which a scan does not have;
- with a ``validate`` function (the loss on held-out readouts that are never fitted,
  :mod:`inr_core.methods.inr.holdout`): it is evaluated before the first step and every
  ``validate_every`` steps, the parameters of its lowest value are restored at the end (step 0
  included: an INR that starts from a classical image returns that image when no step predicts the
  held-out data better), and the fit stops after ``patience`` evaluations without a new best.
  This is the one stopping rule of every scan-specific INR; it replaces ``keep_best``;
- ``progress`` every ``progress_every`` steps and at the end;
- ``refine_iterations`` > 0: after the fit, that many iterations of a classical solver started at the INR's
  image and pulled towards it (:mod:`inr_core.methods.inr.refine`; every INR applies it to its final images).

``chunked`` evaluates a network over many query points in pieces of ``chunk`` (memory bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

# The classical solvers that can refine an INR's images (inr/refine.py: their iteration started at the INR's image).
REFINE_WITH = ("", "llr", "grasp", "l-plus-s")
# The refinement's pull, relative to ||A^H A||, when refine_iterations > 0 (lr-inr sets its own). Chosen on seed 0,
# radial 13 spokes, DA-INR `fast` refined by llr (docs/methods-inr-refinement.md): 0.03 40.52 dB, 0.1 39.81, 0.3 38.18.
REFINE_PULL = 0.03


@dataclass
class FitConfig:
    steps: int = 1000
    lr: float = 1e-3
    lr_decay: float = 1.0  # multiplied in every `decay_every` steps ...
    decay_every: int = 1000
    lr_min: float = 0.0  # ... down to this floor
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 0.01
    time_budget_s: float = 0.0  # end the fit after this many seconds (0: run all steps)
    keep_best: bool = False  # restore the parameters of the lowest (running-mean) training loss
    best_window: int = 20
    # honest stopping: fraction of the acquired readouts held out of the fit (0: none), scored every
    # `validate_every` steps; the best-scoring parameters are restored; stop after `patience` scorings
    # without a new best (0: never stop early)
    holdout: float = 0.0
    validate_every: int = 10
    patience: int = 0
    restore_best: bool = True  # False: keep the last step's parameters (to measure what stopping picks)
    progress_every: int = 10
    chunk: int = 32768  # query points per forward pass when predicting
    seed: int = 0
    # optional classical refinement of the final images (inr/refine.py): `refine_iterations` iterations of
    # `refine_with` ("" = the INR's default: llr; lr-inr, whose fit already holds the trajectory's classical
    # regulariser, grasp on Cartesian and llr on radial data) from the INR's image on all the acquired data,
    # plus refine_pull * ||A^H A|| / 2 * ||x - x_inr||^2 (relative pull: 0 tends to the classical image, large
    # keeps the INR's); 0 iterations: off, the INR's image as it is
    refine_iterations: int = 0
    refine_pull: float = REFINE_PULL
    refine_with: str = ""

    def __post_init__(self):
        if self.refine_with not in REFINE_WITH:
            raise ValueError(f"refine_with {self.refine_with!r} is not a classical solver (one of: "
                             f"{', '.join(REFINE_WITH[1:])}, or empty for the method's default)")


@dataclass
class FitReport:
    losses: list[float] = field(default_factory=list)  # training loss per step
    steps: int = 0  # steps taken
    seconds: float = 0.0
    stopped_by_budget: bool = False
    best_step: int | None = None  # with keep_best or validate: the step whose parameters were restored
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, held-out loss)
    stopped_by_patience: bool = False


@contextmanager
def seeded(seed: int, device: torch.device):
    """torch's RNG seeded inside, restored afterwards (network init, batch draws)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _snapshot(modules: list[nn.Module]) -> list[dict]:
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


def fit(modules: list[nn.Module], loss_fn: Callable[[int], torch.Tensor], cfg: FitConfig, progress, label: str,
        after_step: Callable[[int], None] | None = None, parameters: list[torch.nn.Parameter] | None = None,
        validate: Callable[[], float] | None = None) -> FitReport:
    """Minimise ``loss_fn(step)`` over the parameters of ``modules`` (or ``parameters``).

    ``after_step(step)`` runs after each optimiser step (e.g. a refreshed network input). Run it
    inside :func:`seeded` so batch draws are reproducible. ``validate()``: the held-out loss of the
    current parameters (see the module docstring); the state of ``modules`` is what is restored.
    """
    params = parameters if parameters is not None else [p for m in modules for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps,
                            weight_decay=cfg.weight_decay)
    report = FitReport()
    start = time.monotonic()
    best: list[dict] | None = None
    best_mean = float("inf")
    window: list[float] = []  # the last best_window batch losses (keep_best)
    every, waited = max(cfg.validate_every, 1), 0

    def check(done: int) -> bool:
        """Score the held-out readouts after ``done`` steps; True when patience has run out."""
        nonlocal best, best_mean, waited
        assert validate is not None  # called only with a validate function
        with torch.no_grad():
            value = float(validate())
        report.validation.append((done, value))
        if value < best_mean:
            best_mean, report.best_step, best, waited = value, done, _snapshot(modules), 0
            return False
        waited += 1
        return cfg.patience > 0 and waited >= cfg.patience

    if validate is not None:
        check(0)
    for step in range(cfg.steps):
        lr = max(cfg.lr * cfg.lr_decay ** (step // max(cfg.decay_every, 1)), cfg.lr_min)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        report.losses.append(value)
        report.steps = step + 1
        if after_step is not None:
            after_step(step)
        done = step + 1
        over = cfg.time_budget_s > 0 and time.monotonic() - start > cfg.time_budget_s
        patience_out = False
        if validate is not None:
            if done % every == 0 or done == cfg.steps or over:
                patience_out = check(done)
        elif cfg.keep_best:
            window = (window + [value])[-max(cfg.best_window, 1):]
            mean = sum(window) / len(window)
            if len(window) == max(cfg.best_window, 1) and mean < best_mean:
                best_mean, report.best_step, best = mean, done, _snapshot(modules)
        if done % max(cfg.progress_every, 1) == 0 or done == cfg.steps or over or patience_out:
            progress(done, cfg.steps, f"{label} step {done}/{cfg.steps} loss {value:.4g}")
        if over or patience_out:
            report.stopped_by_budget, report.stopped_by_patience = over, patience_out
            break
    if best is not None and (validate is None or cfg.restore_best):
        for module, state in zip(modules, best, strict=True):
            module.load_state_dict(state)
    report.seconds = time.monotonic() - start
    return report


@torch.no_grad()
def chunked(fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, chunk: int) -> torch.Tensor:
    """``fn`` over ``points`` (n, d) in pieces of ``chunk`` rows, concatenated."""
    chunk = max(int(chunk), 1)
    return torch.cat([fn(points[i:i + chunk]) for i in range(0, len(points), chunk)])
