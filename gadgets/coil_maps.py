"""CoilMaps: ESPIRiT sensitivities from the time-averaged calibration data of a ``CineSlice``.

``inr_core.coils.estimate_coil_maps`` chooses the calibration region (separate ACS lines when the
slice has them, otherwise the time-averaged centre of the data; for radial the gridded centre of
all spokes pooled). Properties: ``calibration_width`` (calibration lines used, default 24) and any
``espirit_*`` property, passed on without the prefix (``espirit_kernel_width``, ``espirit_thresh``,
``espirit_crop``).

After prewhitening with W (``notes["whitener"]``, see ``gadgets.noise``) the data's sensitivities
are ``W s`` while ESPIRiT returns unit-norm ``W s / |W s|``, so any method's images come out as
``rho |W s|``: spatially weighted. The maps stay unit-norm (iterative methods are tuned for
that: rescaled maps slow their convergence badly), and the weight is undone on the images instead:
``notes["intensity"] = |W^-1 m|`` (= ``1 / |W s|`` since ``|s| = 1``), which Reconstruction
multiplies into the images; 1 where the maps vanish.
"""

from __future__ import annotations

import numpy as np
import torch

from gadgets.base import Gadget
from gadgets.items import CineSlice
from inr_core.coils import estimate_coil_maps


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def intensity_correction(maps: torch.Tensor, w: np.ndarray) -> torch.Tensor:
    """``(ny, nx)`` factor putting images made with unit-norm whitened maps back on the object's scale."""
    w_inv = torch.from_numpy(np.linalg.inv(w).astype(np.complex64)).to(maps.device)
    norm = torch.einsum("ij,jyx->iyx", w_inv, maps).abs().pow(2).sum(0).sqrt()
    return torch.where(maps.abs().pow(2).sum(0) > 0, norm, torch.ones_like(norm)).to(torch.float32)


class CoilMaps(Gadget):
    def configure(self) -> None:
        self.width = int(self.prop("calibration_width", "24"))
        self.options = {k[len("espirit_"):]: _number(v) for k, v in self.properties.items() if k.startswith("espirit_")}

    def process(self, item):
        if not isinstance(item, CineSlice):
            return (item,)
        if self.progress is not None:
            self.progress(0, 1, f"slice {item.slice}: coil maps")
        item.coil_maps = self.estimate(item.data)
        if item.notes.get("whitener") is not None:
            item.notes["intensity"] = intensity_correction(item.coil_maps, item.notes["whitener"])
        return (item,)

    def estimate(self, data) -> torch.Tensor:
        return torch.as_tensor(estimate_coil_maps(data, width=self.width, **self.options)).to(torch.complex64)
