"""KP-INR: k-space INR with a CNN (K-INR) branch and a positional (P-INR) branch that interact.

The network, loss and training live in :mod:`inr_core.methods.inr.kspace_inr` (on the shared loop
:func:`inr_core.methods.inr.fit.fit`); this module is the method and its presets. ``paper`` is the
paper's setting (6000 steps, U-Net 64 channels, WIRE width 512), meant for a GPU; ``fast`` is sized
for the 2-core CPU: a time budget keeps one 160x160, 16-frame, 10-coil slice under 10 minutes, and
the best parameters by training loss are returned (docs/methods-kp-inr.md has what it costs).
"""

from __future__ import annotations

from inr_core.fft import fft2c
from inr_core.methods.base import Method, get_method
from inr_core.methods.inr.holdout import split
from inr_core.methods.inr.kspace_inr import KpInrConfig, images_from_kspace, train
from inr_core.methods.inr.refine import check_refinement, refined

# The CPU preset. What each lever costs and buys is measured in docs/methods-kp-inr.md (1 thread, shared CPU):
# - warm start from LLR, the best classical method on the realistic simulation, with the branches fitting
#   the residual to it: fitted from zeros, neither branch gets near view sharing in any schedule this CPU
#   affords (22.5 dB cold vs 36.6 warm at 48x48, kt-uniform R8, where LLR alone scores 36.6: the INR adds
#   nothing measurable on top of it, and the docs say so);
# - an 8-channel U-Net and width-128 MLPs, 32 spatial bands and 16 time features, every coil (4 virtual
#   coils cost P-INR 0.5 dB and save no U-Net time: its cost is its channels, not its input coils);
# - the U-Net with gradients every 4th step (its detached features in between), the input refreshed every 100;
# - 8192 random acquired points per step (2048 lost 1.4 dB at equal steps), lr 3e-3 decaying x0.9 every 100;
# - at most 2000 steps or 420 s of fitting (the rest of the 10 minutes is the chain, the warm start and the
#   final full-grid prediction), returning the parameters that best predict 5% of the acquired lines held
#   out of the fit and of the warm start (honest stopping, inr/fit.py; they are put back at the end).
FAST = {"steps": 2000, "lr": 3e-3, "lr_decay": 0.9, "decay_every": 100, "lr_min": 4e-5, "refresh_every": 100,
        "batch_points": 8192, "width": 128, "unet_channels": 8, "k_width": 64, "mid_width": 64,
        "space_bands": 32, "time_features": 16, "unet_every": 4, "time_budget_s": 420.0,
        "holdout": 0.05, "validate_every": 50, "warm_start": "llr", "warm_residual": True}
# A few steps of tiny networks: shows that a chain runs (the GPU check's CPU rehearsal), no more.
SMOKE = {"steps": 30, "lr": 3e-3, "batch_points": 2048, "width": 32, "unet_channels": 4, "k_width": 16,
         "mid_width": 16, "feature_dim": 8, "space_bands": 8, "time_features": 4, "refresh_every": 15}
WARM_METHODS = ("l-plus-s", "kt-grappa", "llr", "grasp", "cg-sense")


class KpInr(Method):
    """KP-INR (CNN + positional k-space INR, Cartesian cine): scan-specific, trained on the acquired samples."""

    name = "kp-inr"
    Config = KpInrConfig
    trajectories = ("cartesian",)
    presets = {"fast": FAST, "paper": {}, "smoke": SMOKE}

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        warm = self.config.warm_start
        if warm and warm not in WARM_METHODS:
            raise ValueError(f"kp-inr: warm_start {warm!r} is not a classical Cartesian method "
                             f"(one of: {', '.join(WARM_METHODS)}, or empty for none)")
        check_refinement(self, data, coil_maps)

    def reconstruct(self, data, coil_maps, progress):
        fit_data, held = split(data, self.config.holdout, self.config.seed)  # the warm start never sees `held`
        warm = None
        if self.config.warm_start:
            cls = get_method(self.config.warm_start)
            images = cls(cls.make_config(), self.device)(fit_data, coil_maps)
            warm = fft2c(images[:, None] * coil_maps[None])
        result = train(fit_data, self.config, with_kinr=True, progress=progress, warm_kspace=warm, held=held)
        return refined(images_from_kspace(result.kspace, coil_maps), data, coil_maps, self.config, progress)
