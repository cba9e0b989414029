"""One interface and one registry for every reconstruction method, classical or INR.

A method is ``reconstruct(data, coil_maps, config, progress) -> images``:
- ``data``: :class:`~inr_core.data.CartesianCine` or :class:`~inr_core.data.RadialCine`,
- ``coil_maps``: ``(coils, ny, nx)`` complex tensor on the same device as the data,
- ``config``: an instance of the method's config dataclass,
- ``progress``: ``progress(done, total, message)``; may be ``None``,
- returns ``(frames, ny, nx)`` complex images, coil-combined.

Gadgets, the command line and the benchmark never special-case a method: they look it up here.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str = "") -> None:
    pass


@dataclass(frozen=True)
class MethodSpec:
    name: str
    reconstruct: Callable
    config_type: type
    trajectories: tuple[str, ...]
    presets: dict[str, dict] = field(default_factory=dict)
    summary: str = ""
    min_frames: int = 1  # 2 for methods whose regulariser is temporal: one frame gives them nothing to share

    def make_config(self, preset: str | None = None, **overrides):
        """Build the config: dataclass defaults, then a named preset, then overrides.

        Overrides may be strings (XML properties, command-line values); they are converted to
        the field's declared type, and unknown names are an error naming the field.
        """
        values: dict = {}
        if preset is not None:
            if preset not in self.presets and preset != "default":
                known = ", ".join(["default", *self.presets]) or "none"
                raise ValueError(f"method {self.name!r} has no preset {preset!r} (known: {known})")
            values.update(self.presets.get(preset, {}))
        values.update(overrides)
        fields = {f.name: f for f in dataclasses.fields(self.config_type)}
        hints = typing.get_type_hints(self.config_type)
        converted = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in fields:
                raise ValueError(
                    f"method {self.name!r} has no option {key!r} (options: {', '.join(fields)})")
            converted[name] = _check_number(_convert(value, hints[name], f"{self.name}.{name}"), value,
                                            f"{self.name}.{name}")
        return self.config_type(**converted)

    def run(self, data, coil_maps: torch.Tensor, config=None, progress: Progress | None = None):
        if data.trajectory not in self.trajectories:
            raise ValueError(
                f"method {self.name!r} does not support {data.trajectory} data "
                f"(supports: {', '.join(self.trajectories)})")
        if data.frames < self.min_frames:
            single = ", ".join(m.name for m in list_methods()
                               if m.min_frames <= 1 and data.trajectory in m.trajectories)
            raise ValueError(
                f"method {self.name!r} regularises over time and needs at least {self.min_frames} frames; this slice "
                f"has {data.frames} (for single-frame scans use: {single})")
        if coil_maps.shape[0] != data.coils:
            raise ValueError(
                f"coil-count mismatch: data has {data.coils} coils, coil maps have {coil_maps.shape[0]}")
        config = self.make_config() if config is None else config
        return self.reconstruct(data, coil_maps, config, progress or no_progress)


def _check_number(value, given, where: str):
    """Every numeric option (weights, counts, widths, tolerances, rates) is finite and non-negative:
    ``lam=nan`` would otherwise write NaN images, ``iterations=-5`` silently run none."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"invalid value {given!r} for {where} (must be a finite number >= 0)")
    return value


def _convert(value, annotation, where: str):
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(annotation)
    target = annotation
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value.lower() in ("none", "null", ""):
            return None
        target = args[0]
    try:
        if target is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if target in (int, float, str):
            return target(value)
        if typing.get_origin(target) is tuple:
            inner = typing.get_args(target)[0]
            return tuple(inner(v) for v in value.replace(",", " ").split())
    except ValueError:
        expected = getattr(target, "__name__", target)
        raise ValueError(f"invalid value {value!r} for {where} (expected {expected})") from None
    return value


_REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, config: type, trajectories=("cartesian", "radial"), presets=None, summary="", min_frames=1):
    """Decorator: ``@register("cg-sense", CGSenseConfig)`` on a ``reconstruct`` function."""

    def wrap(fn):
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        _REGISTRY[name] = MethodSpec(name, fn, config, tuple(trajectories), dict(presets or {}),
                                     summary or (fn.__doc__ or "").strip().splitlines()[0], int(min_frames))
        return fn

    return wrap


def get_method(name: str) -> MethodSpec:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None


def list_methods() -> list[MethodSpec]:
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _load_builtin():
    # Importing the package registers every built-in method exactly once.
    import inr_core.methods  # noqa: F401
