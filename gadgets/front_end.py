"""The front end: what every raw scan goes through before a method sees it, assembled in one place.

Readouts -> NoisePrewhitening -> RemoveReadoutOversampling -> CineBuffer -> CoilMaps -> ``CineSlice``
(whitened, oversampling removed, sorted per slice, with coil maps and the images' intensity factor).

- ``ACQUISITION_STAGES`` take and give ISMRMRD readouts, so each is a Gadgetron node of its own in the
  packaged configurations (``pipelines/streaming/configs/*.xml``);
- ``SLICE_STAGES`` turn readouts into ``CineSlice`` items, which cannot cross a node boundary: they
  open the cine node (``gadgets.cine_reconstruction``).

:func:`cine_slices` runs the front end on a scan in-process: the benches (coil-map agreement, the BART
comparison) and gen-inr training from raw files use it, so they see the data the methods see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gadgets.base import Chain, Gadget
from gadgets.cine_buffer import CineBuffer
from gadgets.coil_maps import CoilMaps
from gadgets.items import CineSlice
from gadgets.noise import NoisePrewhitening
from gadgets.oversampling import RemoveReadoutOversampling

ACQUISITION_STAGES: tuple[type[Gadget], ...] = (NoisePrewhitening, RemoveReadoutOversampling)
SLICE_STAGES: tuple[type[Gadget], ...] = (CineBuffer, CoilMaps)


def front_end(prewhiten: bool = True, coil_maps: bool = True) -> Chain:
    """The front end as one unconfigured chain; ``prewhiten=False`` leaves the channels as measured,
    ``coil_maps=False`` stops at the buffer (a caller timing ESPIRiT on its own)."""
    stages = [*(ACQUISITION_STAGES if prewhiten else ACQUISITION_STAGES[1:]),
              *(SLICE_STAGES if coil_maps else SLICE_STAGES[:1])]
    return Chain(stages=[cls() for cls in stages])


def cine_slices(header, acquisitions: Iterable, settings: Mapping[str, Any] | None = None,
                prewhiten: bool = True, coil_maps: bool = True) -> list[CineSlice]:
    """Every slice of a scan through the front end (``settings``: the stages' own, e.g.
    ``calibration_width``; an unknown key is a ``GadgetError``)."""
    chain = front_end(prewhiten, coil_maps)
    chain.setup(dict(settings or {}), header)
    return [item for item in chain.stream(acquisitions) if isinstance(item, CineSlice)]
