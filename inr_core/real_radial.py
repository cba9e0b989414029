"""The real radial cardiac frame in ``shared/data`` (MD-CNN radial cine, El-Rewaidy et al., MRM 2021,
via the BSD-3 repository GhDamghani/PyPFT): loading it into the project's conventions.

One coil, one cardiac phase, 196 full spokes at angles pi*j/196 covering 0..pi, 416 samples per
spoke, about 3x readout oversampling, k-space centre near sample 209. Sample s sits at
(s - 209)/3 cycles per field of view of a 208 x 208 image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from inr_core.data import RadialCine

IMAGE_SHAPE = (208, 208)
CENTRE_SAMPLE = 209
OVERSAMPLING = 3.0


def load_real_radial_frame(path: str | Path) -> RadialCine:
    """``(416, 196)`` samples x spokes -> a one-frame, one-coil :class:`RadialCine`."""
    k = np.load(path)
    samples, spokes = k.shape
    angles = math.pi * np.arange(spokes) / spokes
    radius = (np.arange(samples) - CENTRE_SAMPLE) / OVERSAMPLING
    traj = np.stack([radius[None, :] * np.cos(angles)[:, None],
                     radius[None, :] * np.sin(angles)[:, None]], axis=-1)
    return RadialCine(
        kspace=torch.from_numpy(k.T.astype(np.complex64))[None, None],  # (1, 1, spokes, samples)
        trajectory_k=torch.from_numpy(traj.astype(np.float32))[None],
        image_shape=IMAGE_SHAPE,
    )
