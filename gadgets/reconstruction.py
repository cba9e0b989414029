"""Reconstruction: run a registered method on a ``CineSlice``.

Settings (``Reconstruction.Config``): ``method`` (default ``l-plus-s``), ``preset`` (a named preset of
that method), ``device`` (``auto``|``cpu``|``cuda[:N]``), ``preview``, ``fallback``, ``time_budget_s``
(below); every other key is an option of the selected method (``Method.make_config``: converted to
its type; an unknown name is an error naming the nearest). A key that is both (``time_budget_s`` of
the INRs) is the stage's: the chain's budget covers the fallback too.

A scan is never lost to a method failure. When the method raises at run time (a refusal of the
data, such as a wrong trajectory, stays an error), runs out of memory, or passes ``time_budget_s``
(default 0: none; checked at every progress call, which every method makes per iteration):
- CUDA out of memory: once more with half the ``chunk`` (methods that have one), then on the CPU;
- then the ``fallback`` method (default ``cg-sense``; ``none`` turns it off and the failure is the
  scan's error), with its defaults (on the CPU after an out-of-memory).
The images say so: ``CineSlice.fallback`` holds the reason, which ImageExport puts in the image
comment and the sequence description (``_FALLBACK``), and the log has a warning.

``preview`` (a method name, default none): a fast method run first, with its defaults, whose
images go out at once as their own series (``kind == "preview"``; ImageExport's
``preview_series_index``) while the selected method is still running: an INR can take minutes and a
scanner user wants to see the slice in seconds (e.g. ``preview=zero-filled`` or ``cg-sense``).
Keys of the other stages of the cine chain never reach this one (``gadgets.base.Chain.route``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from gadgets.base import Gadget, GadgetError, NodeConfig
from gadgets.items import CineSlice
from inr_core import settings
from inr_core.device import resolve_device

log = logging.getLogger(__name__)


class TimeBudgetExceeded(Exception):
    """Raised from the progress callback when the method has run past ``time_budget_s``."""


@dataclass
class ReconstructionConfig(NodeConfig):
    method: str = "l-plus-s"
    preset: str | None = None  # a named preset of the method (``default``: its dataclass defaults)
    device: str = "auto"  # auto | cpu | cuda[:N]
    preview: str | None = None  # a fast method whose images go out first, as their own series
    fallback: str = "cg-sense"  # the method that makes the images when the selected one fails; none: fail
    time_budget_s: float = 0.0  # the method's wall-clock budget (0: none); past it the fallback runs
    # The selected method's own Config, built from the keys that are not the stage's (not a setting).
    method_config: Any = field(default=None, init=False, repr=False)

    def __post_init__(self):
        from inr_core.methods import get_method

        self.method = get_method(self.method).name  # unknown method: the registry's error, naming the known
        if self.preview is not None:
            self.preview = get_method(self.preview).name
        if self.fallback.strip().lower() != "none":
            self.fallback = get_method(self.fallback).name
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"unknown device {self.device!r}: use auto, cpu or cuda[:N]")


class Reconstruction(Gadget):
    Config = ReconstructionConfig

    def setting_names(self, values: Mapping[str, Any]) -> list[str]:
        """The stage's own settings and the options of the method ``values`` select."""
        from inr_core.methods import get_method

        own = settings.names(self.Config)
        try:
            method = get_method(str(values.get("method") or ReconstructionConfig.method).strip())
        except ValueError:  # reported, with the known methods, when the settings are built
            return own
        return own + [n for n in settings.names(method.Config) if n not in own]

    def settings(self, values: Mapping[str, Any]) -> ReconstructionConfig:
        from inr_core.methods import get_method

        own_names = set(settings.names(self.Config))
        own = {k: v for k, v in values.items() if str(k).replace("-", "_") in own_names}
        config = settings.build(self.Config, own, owner=self.name)
        options = {k: v for k, v in values.items() if k not in own}
        config.method_config = get_method(config.method).make_config(config.preset, **options)
        return config

    def configure(self) -> None:
        c = self.config
        self.method_name = c.method
        self.method_config = c.method_config
        self.fallback = None if c.fallback.lower() == "none" else c.fallback
        self.time_budget_s = c.time_budget_s
        try:
            self.device = resolve_device(c.device)
            # Built once per stream and kept by the process (a warm worker reuses it scan after scan).
            self.method = _build(self.method_name, c.method_config, self.device)
            self.preview = None if c.preview is None else _build(c.preview, None, self.device)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise GadgetError(str(exc)) from None
        log.info("method %s on %s, config %s%s", self.method_name, self.device, c.method_config,
                 f", preview {self.preview.name}" if self.preview else "")

    def process(self, item):
        if not isinstance(item, CineSlice):
            return (item,)
        if item.coil_maps is None:
            raise GadgetError(f"slice {item.slice} reached Reconstruction without coil maps (put CoilMaps first)")
        return self._slices(item)

    def _slices(self, item: CineSlice):
        # A generator: the preview leaves the chain (and reaches the client) before the method starts.
        if self.preview is not None:
            yield replace(item, images=self._run(item, self.preview), method=self.preview.name, kind="preview")
        try:
            item.images = self._run_guarded(item)
            item.method = self.method_name
        except Exception as exc:  # noqa: BLE001 - any failure of the method: the scan still gets images
            if self.fallback is None or isinstance(exc, GadgetError):
                raise
            item.fallback = f"{self.method_name} failed: {_reason(exc)}"
            log.warning("slice %d: %s; falling back to %s", item.slice, item.fallback, self.fallback)
            device = torch.device("cpu") if isinstance(exc, torch.OutOfMemoryError) else self.device
            item.images = self._run(item, _build(self.fallback, None, device))
            item.method = self.fallback
        yield item

    def _run_guarded(self, item: CineSlice) -> torch.Tensor:
        """The method, with the time budget; on CUDA out of memory once with half the chunk, then on the CPU."""
        budget = self.time_budget_s or None
        try:
            return self._run(item, self.method, budget=budget)
        except torch.OutOfMemoryError:
            if self.device.type != "cuda":
                raise
            torch.cuda.empty_cache()
            log.warning("slice %d: %s ran out of CUDA memory", item.slice, self.method_name)
        if getattr(self.method_config, "chunk", 0) > 1:
            smaller = replace(self.method_config, chunk=self.method_config.chunk // 2)
            try:
                return self._run(item, _build(self.method_name, smaller, self.device), budget=budget)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
        log.warning("slice %d: %s again out of CUDA memory: on the CPU", item.slice, self.method_name)
        return self._run(item, _build(self.method_name, self.method_config, torch.device("cpu")), budget=budget)

    def _run(self, item: CineSlice, method, budget: float | None = None) -> torch.Tensor:
        data = item.data
        try:
            images = method(data, item.coil_maps, self._progress(item.slice, budget))
        except ValueError as exc:  # the registry's refusals (trajectory, coil count) are about the data
            raise GadgetError(f"slice {item.slice}: {exc}") from None
        images = torch.as_tensor(images).detach().to("cpu", torch.complex64)
        expected = method.output_shape(data)
        if tuple(images.shape) != tuple(expected):
            raise GadgetError(f"method {method.name} returned images of shape {tuple(images.shape)}, "
                              f"expected {tuple(expected)}")
        if item.intensity is not None:  # undo the prewhitening's spatial weight (inr_core.coils)
            images = images * _resample(item.intensity.to("cpu"), images.shape[-2:])[None]
        return images

    def _progress(self, slice_index: int, budget: float | None = None):
        outer = self.progress
        deadline = None if budget is None else time.monotonic() + budget

        def progress(done, total, message=""):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeBudgetExceeded(f"passed its time budget of {budget:g} s at step {done}/{total}")
            if outer is not None:
                outer(done, total, f"slice {slice_index}: {message}".rstrip(": "))

        return progress if (outer is not None or deadline is not None) else None


def _build(name, config, device):
    from inr_core.methods import build

    return build(name, config, device)


def _resample(image: torch.Tensor, shape) -> torch.Tensor:
    """A real per-pixel map brought to the output matrix (same FOV) of a method that interpolates."""
    if tuple(image.shape) == tuple(shape):
        return image
    return torch.nn.functional.interpolate(image[None, None].float(), size=tuple(shape), mode="bilinear",
                                           align_corners=False)[0, 0]


def _reason(exc: Exception) -> str:
    if isinstance(exc, torch.OutOfMemoryError):
        return "out of memory"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, TimeBudgetExceeded) else f"{type(exc).__name__}: {text}"[:200]
