"""P-INR: the positional branch of KP-INR alone, a NIK-style k-space INR (WIRE MLP on encoded (t, ky, kx)).

Same training as KP-INR (:mod:`inr_core.methods.inr.kspace_inr`) without the U-Net, the K-INR branch,
the auto-encoding losses and the input refresh.
"""

from __future__ import annotations

from inr_core.methods.base import Method
from inr_core.methods.inr.kp_inr import FAST
from inr_core.methods.inr.kspace_inr import InrConfig, images_from_kspace, train


class PInr(Method):
    """P-INR (positional k-space INR with WIRE, Cartesian cine): the KP-INR ablation without the CNN branch."""

    name = "p-inr"
    Config = InrConfig
    trajectories = ("cartesian",)
    presets = {"fast": FAST, "paper": {}}

    def reconstruct(self, data, coil_maps, progress):
        result = train(data, self.config, with_kinr=False, progress=progress)
        return images_from_kspace(result.kspace, coil_maps)
