"""P-INR: the positional branch of KP-INR alone, a NIK-style k-space INR (WIRE MLP on encoded (t, ky, kx)).

Same training as KP-INR (:mod:`inr_core.methods.inr_training`) without the U-Net, the K-INR branch,
the auto-encoding losses and the input refresh.
"""

from __future__ import annotations

from inr_core.methods.base import register
from inr_core.methods.inr_training import InrConfig, images_from_kspace, train
from inr_core.methods.kp_inr import FAST


@register("p-inr", InrConfig, trajectories=("cartesian",), presets={"fast": FAST, "paper": {}})
def reconstruct(data, coil_maps, config, progress):
    """P-INR (positional k-space INR with WIRE, Cartesian cine): the KP-INR ablation without the CNN branch."""
    result = train(data, config, with_kinr=False, progress=progress)
    return images_from_kspace(result.kspace, coil_maps)
