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

import torch

from gadgets.base import Gadget, GadgetError
from gadgets.items import CineSlice
from inr_core.coils import coil_maps_and_intensity

ESPIRIT_OPTIONS = {"kernel_width": int, "thresh": float, "crop": float}


class CoilMaps(Gadget):
    def configure(self) -> None:
        self.options = {"width": self._number("calibration_width", int, "24")}
        for key, value in self.properties.items():
            if key.startswith("espirit_"):
                name = key[len("espirit_"):]
                if name not in ESPIRIT_OPTIONS:
                    raise GadgetError(f"unknown property {key} (ESPIRiT options: "
                                      f"{', '.join('espirit_' + k for k in ESPIRIT_OPTIONS)})")
                self.options[name] = self._number(key, ESPIRIT_OPTIONS[name], value)
        kernel = self.options.get("kernel_width", 6)
        if kernel < 1 or self.options["width"] <= kernel:
            raise GadgetError(f"calibration_width ({self.options['width']}) must be larger than "
                              f"espirit_kernel_width ({kernel}), which must be at least 1")

    def _number(self, key: str, kind: type, default: str):
        text = self.prop(key, default)
        try:
            return kind(text)
        except ValueError:
            raise GadgetError(f"property {key} must be a number ({kind.__name__}), not {text!r}") from None

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
