"""One interface and one registry for every reconstruction method, classical, INR or trained.

A method is a class deriving from :class:`Method`, one per file in ``inr_core/methods/`` (or a
subpackage of it); defining a ``name`` registers it, and the registry imports every module there, so
adding a method is adding its file. The class says what it is:

- ``name``, ``trajectories`` (``"cartesian"``, ``"radial"``), ``min_frames``;
- ``Config``: a dataclass holding the method's own options, with the paper's defaults;
- ``presets``: named partial overrides of ``Config`` (``fast``, ``paper``, ...).
- ``start_options``: for an INR that starts from a classical image, the options that make it return
  that start alone (step 0; the benches set each INR beside it); empty for the others.

It is built once, ``method = Cls(config, device)`` -- networks, weights and caches belong there --
and called as ``method(data, coil_maps, progress) -> images``:

- ``data``: :class:`~inr_core.data.CartesianCine` or :class:`~inr_core.data.RadialCine`,
- ``coil_maps``: ``(coils, ny, nx)`` complex,
- ``progress``: ``progress(done, total, message)``; may be ``None``,
- returns ``(frames, ny, nx)`` complex images, coil-combined (or the output matrix and frame
  count the config asks for, for methods that interpolate: :meth:`Method.output_shape`).

A trained method adds ``train(...)``. :func:`build` keeps built methods for the life of the process,
so a worker serving scan after scan loads a model once. Gadgets, the command line and the benchmarks
never special-case a method: they look it up here.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import torch

from inr_core import settings
from inr_core.data import CineKSpace

Progress = Callable[[int, int, str], None]
ConfigT = TypeVar("ConfigT")

log = logging.getLogger(__name__)


def no_progress(done: int, total: int, message: str = "") -> None:
    pass


class Method(Generic[ConfigT]):
    """Base of every reconstruction method (see the module docstring); ``ConfigT`` is its ``Config``."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]]
    trajectories: ClassVar[tuple[str, ...]] = ("cartesian", "radial")
    presets: ClassVar[dict[str, dict]] = {}
    start_options: ClassVar[dict[str, Any]] = {}
    min_frames: ClassVar[int] = 1  # 2 for methods whose regulariser is temporal: one frame gives them nothing

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _register(cls)

    config: ConfigT

    def __init__(self, config: ConfigT | None = None, device: torch.device | str = "cpu"):
        self.config = self.make_config() if config is None else config
        if not isinstance(self.config, self.Config):
            raise TypeError(f"method {self.name!r} takes a {self.Config.__name__}, not {type(self.config).__name__}")
        self.device = torch.device(device)

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def make_config(cls, preset: str | None = None, **overrides):
        """The config: dataclass defaults, then a named preset, then overrides.

        Overrides may be text (XML properties, command-line values) or typed (YAML, JSON); each is
        converted to the field's declared type by ``inr_core.settings``, and an unknown name is an
        error naming the nearest options.
        """
        values: dict = {}
        if preset is not None:
            if preset not in cls.presets and preset != "default":
                known = ", ".join(["default", *cls.presets]) or "none"
                raise ValueError(f"method {cls.name!r} has no preset {preset!r} (known: {known})")
            values.update(cls.presets.get(preset, {}))
        values.update(overrides)
        return settings.build(cls.Config, values, owner=f"method {cls.name!r}", noun="option")

    def output_shape(self, data: CineKSpace) -> tuple[int, int, int]:
        """``(frames, ny, nx)`` of the images this method returns for ``data``.

        A method that interpolates returns ``F`` frames over the same cardiac cycle, output frame
        ``j`` at acquired-frame position ``j * T / F``, and ``m`` pixels over the same FOV, pixel ``i``
        centred at ``(i - m // 2) * FOV / m`` (the convention of the centred FFT, so Fourier
        interpolation agrees); ``gadgets.image_export`` writes their matrix, FOV and timing.
        """
        return (data.frames, *data.image_shape)

    def __call__(self, data: CineKSpace, coil_maps: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        self.check(data, coil_maps)
        return self.reconstruct(data.to(self.device), coil_maps.to(self.device), progress or no_progress)

    def check(self, data: CineKSpace, coil_maps: torch.Tensor) -> None:
        """Refuse data this method cannot reconstruct, with one line naming what to use instead."""
        if data.trajectory not in self.trajectories:
            raise ValueError(f"method {self.name!r} does not support {data.trajectory} data "
                             f"(supports: {', '.join(self.trajectories)})")
        if data.frames < self.min_frames:
            single = ", ".join(m.name for m in list_methods()
                               if m.min_frames <= 1 and data.trajectory in m.trajectories)
            raise ValueError(
                f"method {self.name!r} regularises over time and needs at least {self.min_frames} frames; this slice "
                f"has {data.frames} (for single-frame scans use: {single})")
        if coil_maps.shape[0] != data.coils:
            raise ValueError(f"coil-count mismatch: data has {data.coils} coils, coil maps have {coil_maps.shape[0]}")

    def reconstruct(self, data: CineKSpace, coil_maps: torch.Tensor, progress: Progress) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def train(cls, *args: Any, **kwargs: Any) -> dict:
        """Train the method's weights once (a trained method overrides this; ``gadgetron-inr train`` calls it)
        and return a report of the run. Scan-specific methods fit inside :meth:`reconstruct` instead."""
        raise NotImplementedError(f"method {cls.name!r} is not trained ahead of time; it fits each scan")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r}, device={str(self.device)!r})"


_REGISTRY: dict[str, type[Method]] = {}
_BUILT: dict[tuple, Method] = {}
_KEEP = 4  # built methods kept per process (a worker switching between a few configurations)


def _register(cls: type[Method]) -> None:
    if cls.name in _REGISTRY and _REGISTRY[cls.name].__qualname__ != cls.__qualname__:
        raise ValueError(f"method {cls.name!r} registered twice ({_REGISTRY[cls.name].__module__}, {cls.__module__})")
    if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
        raise TypeError(f"method {cls.name!r}: Config must be a dataclass")
    _REGISTRY[cls.name] = cls


def get_method(name: str) -> type[Method]:
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None


def list_methods() -> list[type[Method]]:
    _discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def build(name: str, config=None, device: torch.device | str = "cpu") -> Method:
    """The method ``name`` built with ``config`` on ``device``, reused while the process lives.

    Methods hold no per-scan state (scan-specific networks are made inside ``reconstruct``), so one
    instance serves every slice of every scan with the same configuration.
    """
    cls = get_method(name)
    config = cls.make_config() if config is None else config
    key = (name, repr(config), str(torch.device(device)))
    if key not in _BUILT:
        while len(_BUILT) >= _KEEP:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[key] = cls(config, device)
    return _BUILT[key]


_DISCOVERED = False


def _discover() -> None:
    """Import every module under ``inr_core/methods``: each method class registers itself."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import inr_core.methods as package

    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
    _DISCOVERED = True
