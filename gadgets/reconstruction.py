"""Reconstruction: run a registered method on a ``CineSlice``.

Properties: ``method`` (default ``l-plus-s``), ``preset`` (a named preset of that method),
``device`` (``auto``|``cpu``|``cuda``); every other property is a config override of the method
(strings, converted by the registry; unknown names are an error naming the method's options).

``preview`` (a method name, default none): a fast method run first, with its defaults, whose
images go out at once as their own series (``kind == "preview"``; ImageExport's
``preview_series_index``) while the selected method is still running: an INR can take minutes and a
scanner user wants to see the slice in seconds (e.g. ``preview=zero-filled`` or ``cg-sense``).
Properties of the other stages of the cine chain are not overrides: they are listed in
``NOT_METHOD_OPTIONS``.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from gadgets.base import Gadget, GadgetError
from gadgets.items import CineSlice
from inr_core.device import resolve_device

log = logging.getLogger(__name__)

DEFAULT_METHOD = "l-plus-s"
OWN = {"method", "preset", "device", "preview"}
# Properties read by the other stages of the composed cine node.
NOT_METHOD_OPTIONS = {"calibration_width", "calibration_as_data", "output", "image_series_index",
                      "preview_series_index", "window", "sequence_description"}


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
            preview = self.prop("preview") or None
            self.preview = None if preview is None else (preview, get_method(preview))
            self.device = resolve_device(self.prop("device", "auto") or "auto")
        except (ValueError, RuntimeError) as exc:
            raise GadgetError(str(exc)) from None
        log.info("method %s on %s, config %s%s", self.method_name, self.device, self.config,
                 f", preview {self.preview[0]}" if self.preview else "")

    def process(self, item):
        if not isinstance(item, CineSlice):
            return (item,)
        if item.coil_maps is None:
            raise GadgetError(f"slice {item.slice} reached Reconstruction without coil maps (put CoilMaps first)")
        return self._slices(item)

    def _slices(self, item: CineSlice):
        # A generator: the preview leaves the chain (and reaches the client) before the method starts.
        if self.preview is not None:
            name, spec = self.preview
            yield replace(item, images=self._run(item, name, spec, spec.make_config()), method=name, kind="preview")
        item.images = self._run(item, self.method_name, self.method, self.config)
        item.method = self.method_name
        yield item

    def _run(self, item: CineSlice, name: str, spec, config) -> torch.Tensor:
        data = item.data.to(self.device)
        maps = item.coil_maps.to(self.device)
        try:
            images = spec.run(data, maps, config, self._progress(item.slice))
        except ValueError as exc:  # the registry's refusals (trajectory, coil count) are about the data
            raise GadgetError(f"slice {item.slice}: {exc}") from None
        images = torch.as_tensor(images).detach().to("cpu", torch.complex64)
        if item.intensity is not None:  # undo the prewhitening's spatial weight (inr_core.coils)
            images = images * item.intensity.to("cpu")[None]
        expected = (item.frames, *item.data.image_shape)
        if tuple(images.shape) != expected:
            raise GadgetError(f"method {name} returned images of shape {tuple(images.shape)}, expected {expected}")
        return images

    def _progress(self, slice_index: int):
        outer = self.progress
        if outer is None:
            return None
        return lambda done, total, message="": outer(done, total, f"slice {slice_index}: {message}".rstrip(": "))
