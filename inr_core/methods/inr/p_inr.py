"""P-INR: the positional branch of KP-INR alone, a NIK-style k-space INR (WIRE MLP on encoded (t, ky, kx)).

Same training as KP-INR (:mod:`inr_core.methods.inr.kspace_inr`) without the U-Net, the K-INR branch,
the auto-encoding losses and the input refresh; its config (:class:`PInrConfig`) holds only the
options that P-INR uses.
"""

from __future__ import annotations

from inr_core.methods.base import Method
from inr_core.methods.inr.holdout import split
from inr_core.methods.inr.kp_inr import FAST as KP_FAST
from inr_core.methods.inr.kp_inr import SMOKE as KP_SMOKE
from inr_core.methods.inr.kspace_inr import PInrConfig, images_from_kspace, train
from inr_core.methods.inr.refine import check_refinement, refined

# KP-INR's CPU schedule, less what P-INR does not have (the U-Net, the K-INR and middle MLPs).
FAST = {k: v for k, v in KP_FAST.items() if k in PInrConfig.__dataclass_fields__}
SMOKE = {k: v for k, v in KP_SMOKE.items() if k in PInrConfig.__dataclass_fields__}


class PInr(Method):
    """P-INR (positional k-space INR with WIRE, Cartesian cine): the KP-INR ablation without the CNN branch."""

    name = "p-inr"
    Config = PInrConfig
    trajectories = ("cartesian",)
    presets = {"fast": FAST, "paper": {}, "smoke": SMOKE}

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        check_refinement(self, data, coil_maps)

    def reconstruct(self, data, coil_maps, progress):
        fit_data, held = split(data, self.config.holdout, self.config.seed)
        result = train(fit_data, self.config, with_kinr=False, progress=progress, held=held)
        return refined(images_from_kspace(result.kspace, coil_maps), data, coil_maps, self.config, progress)
