"""Validation readouts for honest stopping: a seeded few percent of the acquired readouts, never fitted.

A scan has no ground truth, so a scan-specific INR cannot pick its best step against one. It can
hold out some acquired readouts (Kunz et al., arXiv 2305.06822), fit the rest, and keep the step
whose prediction of the held-out readouts is best (:func:`inr_core.methods.inr.fit.fit`'s
``validate``). The unit held out is a whole readout -- a phase-encode line of one frame (Cartesian)
or a spoke (radial) -- so the held-out samples are not interleaved with fitted neighbours that
nearly repeat them. Everything that feeds the fit, a classical warm start included, sees only
:func:`split`'s ``fit`` part; otherwise step 0 would have seen the validation data.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from inr_core.data import CartesianCine, RadialCine


def split(data: CartesianCine | RadialCine, fraction: float, seed: int = 0):
    """``(fit, held)``: the same cine with the held-out readouts removed, and with only them.

    ``fraction`` of the acquired readouts (at least one, at most all but one per frame's worth) are
    drawn without replacement with a generator seeded by ``seed``. ``fraction`` 0 gives
    ``(data, None)``.
    """
    if not 0 <= fraction < 0.5:
        raise ValueError(f"holdout fraction must be in [0, 0.5), got {fraction}")
    if fraction == 0:
        return data, None
    acquired = data.mask.clone() if isinstance(data, CartesianCine) else (
        torch.ones(data.kspace.shape[0], data.kspace.shape[2], dtype=torch.bool) if data.spoke_mask is None
        else data.spoke_mask.clone())
    acquired = acquired.cpu()
    where = acquired.flatten().nonzero().flatten()
    count = min(max(int(math.ceil(fraction * len(where))), 1), len(where) - 1)
    pick = where[torch.randperm(len(where), generator=torch.Generator().manual_seed(seed))[:count]]
    held = torch.zeros(acquired.numel(), dtype=torch.bool)
    held[pick] = True
    held = held.view(acquired.shape)
    keep = acquired & ~held
    device = data.kspace.device
    if isinstance(data, CartesianCine):
        lines = lambda m: m.to(device)[:, None, :, None]  # noqa: E731
        fit = replace(data, kspace=data.kspace * lines(keep), mask=keep.to(device))
        out = replace(data, kspace=data.kspace * lines(held), mask=held.to(device))
        return fit, out
    return replace(data, spoke_mask=keep.to(device)), replace(data, spoke_mask=held.to(device))


def classical_stopped(method, data, held, coil_maps: torch.Tensor, every: int = 10,
                      patience: int = 5) -> tuple[torch.Tensor, int]:
    """A classical proximal method's iterate that best predicts the held-out readouts: ``(image, iteration)``.

    ``method`` (``llr``, ``grasp``, ``l-plus-s``) iterates on ``data`` (the fit part of :func:`split`) up to its
    ``iterations``; every ``every`` iterations the held-out readouts ``held`` are predicted; the best iterate is
    kept and the loop ends after ``patience`` scorings without a better one. Why: a proximal method's iteration
    count acts as a regulariser whose best value depends on the data (GRASP on the radial benches' seed 0: 60
    iterations at 13 spokes, 200-300 at 5), and the held-out readouts can tell which without a ground truth.
    """
    from inr_core.methods.encoding import encoding
    from inr_core.methods.proximal import LeastSquares

    iteration = method.iteration(LeastSquares.of(data, coil_maps), data)
    held_a, held_y = encoding(held, coil_maps, toeplitz=False)
    total = method.config.iterations
    best, best_loss, best_k, waited = iteration.result, math.inf, 0, 0
    for k in range(1, total + 1):
        iteration.update()
        if k % max(every, 1) and k != total and not iteration.converged:
            continue
        with torch.no_grad():
            loss = float((held_a(iteration.result) - held_y).abs().pow(2).sum())
        if loss < best_loss:
            best, best_loss, best_k, waited = iteration.result.clone(), loss, k, 0
        else:
            waited += 1
        if iteration.converged or (patience and waited >= patience):
            break
    return best, best_k
