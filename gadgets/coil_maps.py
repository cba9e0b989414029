"""CoilMaps: ESPIRiT sensitivities and the images' intensity correction for a ``CineSlice``.

``inr_core.coils.coil_maps_and_intensity`` does the work: it chooses the calibration region (the
slice's time-averaged calibration lines, see ``gadgets.cine_buffer``; for radial the gridded centre
of all spokes pooled), estimates unit-norm maps and, when the data were prewhitened
(``CineSlice.whitener``), the factor that puts images back on the object's scale.
Properties: ``calibration_width`` (calibration lines used, default 24) and any ``espirit_*``
property, passed on without the prefix (``espirit_kernel_width``, ``espirit_thresh``,
``espirit_crop``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gadgets.base import Gadget, GadgetError, NodeConfig
from gadgets.items import CineSlice
from inr_core.coils import coil_maps_and_intensity


class CoilMaps(Gadget):
    @dataclass
    class Config(NodeConfig):
        calibration_width: int = 24  # central calibration lines (Cartesian) / gridded width (radial)
        espirit_kernel_width: int = 6
        espirit_thresh: float = 0.02  # singular-value threshold, relative to the largest
        espirit_crop: float = 0.95  # eigenvalue below which a map is zero

        def __post_init__(self):
            if self.espirit_kernel_width < 1 or self.calibration_width <= self.espirit_kernel_width:
                raise ValueError(f"calibration_width ({self.calibration_width}) must be larger than "
                                 f"espirit_kernel_width ({self.espirit_kernel_width}), which must be at least 1")

    def configure(self) -> None:
        c = self.config
        self.options = {"width": c.calibration_width, "kernel_width": c.espirit_kernel_width,
                        "thresh": c.espirit_thresh, "crop": c.espirit_crop}

    def process(self, item):
        if not isinstance(item, CineSlice):
            return (item,)
        if self.progress is not None:
            self.progress(0, 1, f"slice {item.slice}: coil maps")
        try:
            maps, intensity = coil_maps_and_intensity(item.data, item.whitener, **self.options)
        except ValueError as exc:  # calibration too small for the kernel: about the scan, not a crash
            raise GadgetError(f"slice {item.slice}: {exc}") from None
        item.coil_maps = maps.to(torch.complex64)
        item.intensity = intensity
        return (item,)
