"""KP-INR: k-space INR with a CNN (K-INR) branch and a positional (P-INR) branch that interact.

The network, loss and schedule live in :mod:`inr_core.methods.inr.kspace_inr`; this module registers
the method and its presets. ``paper`` is the paper's setting (6000 epochs, U-Net 64 channels, WIRE
width 512), meant for a GPU; ``fast`` shrinks widths and the schedule so that a small cine runs on
the CPU in minutes (see ``docs/methods-kp-inr.md`` for what it costs in quality).
"""

from __future__ import annotations

from inr_core.methods.base import Method
from inr_core.methods.inr.kspace_inr import InrConfig, images_from_kspace, train

# The CPU schedule, sized so that one 160x160, 16-frame, 10-coil cine takes minutes, not hours:
# 100 epochs instead of 6000 with a 60x larger step size (3e-3 fitted the tiny probes better than
# 1e-3: docs/methods-kp-inr.md), lr decay every 10 epochs (reaching 0.6 of the start), the U-Net
# input refreshed every 25 epochs; an 8-channel U-Net and width-128 MLPs;
# each epoch a random batch of 8192 acquired points. What this costs is measured, not assumed:
# docs/methods-kp-inr.md.
FAST = {"epochs": 100, "lr": 3e-3, "decay_every": 10, "lr_min": 4e-5, "refresh_every": 25,
        "batch_points": 8192, "width": 128, "unet_channels": 8, "k_width": 64, "mid_width": 64,
        "space_bands": 32, "time_features": 16}


class KpInr(Method):
    """KP-INR (CNN + positional k-space INR, Cartesian cine): scan-specific, trained on the acquired samples."""

    name = "kp-inr"
    Config = InrConfig
    trajectories = ("cartesian",)
    presets = {"fast": FAST, "paper": {}}

    def reconstruct(self, data, coil_maps, progress):
        result = train(data, self.config, with_kinr=True, progress=progress)
        return images_from_kspace(result.kspace, coil_maps)
