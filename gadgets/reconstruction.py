"""Reconstruction: run a registered method on a ``CineSlice``.

Properties: ``method`` (default ``l-plus-s``), ``preset`` (a named preset of that method),
``device`` (``auto``|``cpu``|``cuda``); every other property is a config override of the method
(strings, converted by the registry; unknown names are an error naming the method's options).
Properties of the other stages of the cine chain are not overrides: they are listed in
``NOT_METHOD_OPTIONS``.
"""

from __future__ import annotations

import logging

import torch

from gadgets.base import Gadget, GadgetError
from gadgets.items import CineSlice
from inr_core.device import resolve_device

log = logging.getLogger(__name__)

DEFAULT_METHOD = "l-plus-s"
OWN = {"method", "preset", "device"}
# Properties read by the other stages of the composed cine node.
NOT_METHOD_OPTIONS = {"calibration_width", "calibration_as_data", "output", "image_series_index", "window",
                      "sequence_description"}


class Reconstruction(Gadget):
    def configure(self) -> None:
        from inr_core.methods import get_method

        self.method_name = self.prop("method", DEFAULT_METHOD) or DEFAULT_METHOD
        preset = self.prop("preset") or None
        overrides = {k: v for k, v in self.properties.items()
                     if k not in OWN and k not in NOT_METHOD_OPTIONS and not k.startswith("espirit_")}
        try:
            self.method = get_method(self.method_name)
            self.config = self.method.make_config(preset, **overrides)
            self.device = resolve_device(self.prop("device", "auto") or "auto")
        except (ValueError, RuntimeError) as exc:
            raise GadgetError(str(exc)) from None
        log.info("method %s on %s, config %s", self.method_name, self.device, self.config)

    def process(self, item):
        if not isinstance(item, CineSlice):
            return (item,)
        if item.coil_maps is None:
            raise GadgetError(f"slice {item.slice} reached Reconstruction without coil maps (put CoilMaps first)")
        data = item.data.to(self.device)
        maps = item.coil_maps.to(self.device)
        try:
            images = self.method.run(data, maps, self.config, self._progress(item.slice))
        except ValueError as exc:  # the registry's refusals (trajectory, coil count) are about the data
            raise GadgetError(f"slice {item.slice}: {exc}") from None
        item.images = torch.as_tensor(images).detach().to("cpu", torch.complex64)
        if item.intensity is not None:  # undo the prewhitening's spatial weight (inr_core.coils)
            item.images = item.images * item.intensity.to("cpu")[None]
        item.method = self.method_name
        expected = (item.frames, *item.data.image_shape)
        if tuple(item.images.shape) != expected:
            raise GadgetError(f"method {self.method_name} returned images of shape {tuple(item.images.shape)}, "
                              f"expected {expected}")
        return (item,)

    def _progress(self, slice_index: int):
        outer = self.progress
        if outer is None:
            return None
        return lambda done, total, message="": outer(done, total, f"slice {slice_index}: {message}".rstrip(": "))
