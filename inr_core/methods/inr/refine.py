"""The optional short classical refinement after a scan-specific INR (``refine_iterations`` > 0).

    x = argmin_x  1/2 ||A x - y||^2 + R(x) + mu/2 ||x - x_inr||^2,    mu = refine_pull * ||A^H A||

run as ``refine_iterations`` iterations of a classical method's own scheme (``refine_with``: ``llr``'s
FISTA with block SVT, ``grasp``'s primal-dual temporal TV, ``l-plus-s``; ``""`` = the INR's default, ``llr``
(``DEFAULT_REFINER``; lr-inr: ``grasp`` on Cartesian data)) at its own regularisation weight, started at the
INR's image ``x_inr`` (:meth:`inr_core.methods.proximal.ProximalMethod.solve`). The pull is relative (a
fraction of the data term's curvature ``||A^H A||``, so one value means the same on every trajectory and scan):

- ``refine_iterations`` 0 (the default): the INR's image, unchanged;
- ``refine_pull`` -> 0 with enough iterations: the classical method's image (its minimiser, reached
  from the INR's image instead of ``A^H y``);
- ``refine_pull`` large: ``x_inr`` (the step is ``1 / (||A^H A|| + mu)``, so each iteration moves less).

The refinement uses ALL the acquired data: the readouts an INR held out of its fit were there only to
stop it honestly (:mod:`inr_core.methods.inr.holdout`); once the INR has stopped they are measurements
like the others (as P-INR/KP-INR put them back into their final k-space). What it buys on the benches'
simulation: ``docs/methods-inr-refinement.md``.

Every INR calls :func:`check_refinement` from its ``check`` (a bad option is refused before the fit, not after)
and :func:`refined` on its final images.
"""

from __future__ import annotations

import torch

from inr_core.methods.base import Method, Progress, get_method, no_progress
from inr_core.methods.inr.fit import FitConfig
from inr_core.methods.proximal import ProximalMethod

# refine_with "" (every INR but lr-inr, which sets its own): LLR on both trajectories. Radial, seed 0, 13 spokes
# (docs/methods-inr-refinement.md): as the refiner of DA-INR `fast` (36.07 dB) llr at pull 0.03 gave 40.52 dB / SSIM
# 0.9912 and grasp 40.02 / 0.9801 (GRASP alone 39.20 / 0.9716); of lr-inr, llr +0.74 dB and grasp at best +0.13.
# Cartesian: LLR is the best classical method there; unmeasured as the refiner of an INR without a regulariser.
DEFAULT_REFINER = {"cartesian": "llr", "radial": "llr"}


def refiner(cfg: FitConfig, trajectory: str) -> ProximalMethod:
    """The classical method that refines, its default config with ``iterations = refine_iterations``."""
    name = cfg.refine_with or DEFAULT_REFINER[trajectory]
    cls = get_method(name)
    method = cls(cls.make_config(iterations=cfg.refine_iterations))
    assert isinstance(method, ProximalMethod)  # FitConfig refuses any other name (REFINE_WITH)
    return method


def check_refinement(method: Method, data, coil_maps: torch.Tensor, cfg: FitConfig | None = None) -> None:
    """Refuse a refinement that cannot run on ``data`` (from the INR's ``check``, before any fitting);
    ``cfg``: the method's config with its per-trajectory defaults resolved, when it has any (lr-inr)."""
    cfg = method.config if cfg is None else cfg
    assert isinstance(cfg, FitConfig)
    if not cfg.refine_iterations:
        return
    if tuple(method.output_shape(data)) != (data.frames, *data.image_shape):
        raise ValueError(f"{method.name}: the refinement (refine_iterations > 0) works on the acquired frames and "
                         f"matrix {(data.frames, *data.image_shape)}, not the output "
                         f"{tuple(method.output_shape(data))}: leave out_scale at 1 and out_frames at 0")
    refiner(cfg, data.trajectory).check(data, coil_maps)


def refined(images: torch.Tensor, data, coil_maps: torch.Tensor, cfg: FitConfig,
            progress: Progress = no_progress) -> torch.Tensor:
    """``images`` (the INR's, ``(frames, ny, nx)`` on the data's scale) after ``cfg.refine_iterations``
    iterations of the classical refinement on all of ``data`` (held-out readouts included); unchanged when
    ``refine_iterations`` is 0. ``data`` and ``coil_maps`` on the images' device."""
    if not cfg.refine_iterations:
        return images
    if cfg.refine_pull is None:  # a per-trajectory default not resolved by its method (lr-inr's `resolved`)
        raise ValueError("the refinement needs refine_pull (a number >= 0), got None")
    method = refiner(cfg, data.trajectory)
    method.device = images.device
    if tuple(images.shape) != (data.frames, *data.image_shape):
        raise ValueError(f"the refinement needs one image per acquired frame and pixel "
                         f"{(data.frames, *data.image_shape)}, got {tuple(images.shape)}")

    def step(done: int, total: int, message: str) -> None:
        progress(done, total, f"refinement: {message}")

    return method.solve(data, coil_maps, step, start=images.to(torch.complex64), pull=cfg.refine_pull)
