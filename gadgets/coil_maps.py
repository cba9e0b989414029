"""CoilMaps: ESPIRiT sensitivities from the time-averaged calibration data of a ``CineSlice``.

``inr_core.coils.estimate_coil_maps`` chooses the calibration region (separate ACS lines when the
slice has them, otherwise the time-averaged centre of the data; for radial the gridded centre of
all spokes pooled). Properties: ``calibration_width`` (calibration lines used, default 24) and any
``espirit_*`` property, passed on without the prefix (e.g. ``espirit_threshold``).

After prewhitening with W (``notes["whitener"]``, see ``gadgets.noise``) the data's sensitivities
are ``W s`` while ESPIRiT returns unit-norm ``W s / |W s|``, so any method's images come out as
``rho |W s|``: spatially weighted. The maps stay unit-norm (iterative methods are tuned for
that: rescaled maps slow their convergence badly), and the weight is undone on the images instead:
``notes["intensity"] = |W^-1 m|`` (= ``1 / |W s|`` since ``|s| = 1``), which Reconstruction
multiplies into the images; 1 where the maps vanish.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np
import torch

from gadgets.base import Gadget
from gadgets.items import CineSlice
from inr_core.fft import ifft2c

log = logging.getLogger(__name__)


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _fallback_maps(data, width: int) -> torch.Tensor:
    """Temporary shim until inr_core.coils lands: low-resolution maps normalised by their RSS."""
    if data.trajectory != "cartesian":
        raise RuntimeError("coil maps for radial data need inr_core.coils")
    counts = data.mask.sum(0).clamp(min=1).to(data.kspace.real.dtype)
    average = data.kspace.sum(0) / counts[None, :, None]
    ny = average.shape[-2]
    window = torch.zeros(ny, dtype=average.real.dtype)
    window[max(ny // 2 - width // 2, 0):ny // 2 + width // 2] = 1
    low = ifft2c(average * window[None, :, None])
    rss = low.abs().pow(2).sum(0).sqrt().clamp(min=1e-12 * float(low.abs().max()) + 1e-30)
    return (low / rss).to(torch.complex64)


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
        try:
            from inr_core.coils import estimate_coil_maps
        except ImportError:
            log.warning("inr_core.coils not available: using low-resolution coil maps")
            return _fallback_maps(data, self.width)
        params = inspect.signature(estimate_coil_maps).parameters
        kwargs = dict(self.options)
        for name in ("width", "calibration_width"):
            if name in params:
                kwargs[name] = self.width
        return torch.as_tensor(estimate_coil_maps(data, **kwargs)).to(torch.complex64)
