"""Items passed between the cine stages inside one external node (not ISMRMRD types)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from inr_core.data import CartesianCine, RadialCine


@dataclass
class CineSlice:
    """One slice of a cine scan, filled in stage by stage.

    - ``data``: the k-space as the methods want it (``CartesianCine`` or ``RadialCine``);
    - ``slice``: the ISMRMRD slice index;
    - ``frame_headers``: one ``ismrmrd.AcquisitionHeader`` per frame (the readout nearest the
      k-space centre), copied into the image headers;
    - ``header``: the ISMRMRD header (``ismrmrd.xsd.ismrmrdHeader``);
    - ``frame_dimension``: ``"phase"`` or ``"repetition"``: which counter numbered the frames;
    - ``coil_maps`` ``(C, ny, nx)`` complex, set by CoilMaps;
    - ``images`` ``(T, ny, nx)`` complex, and ``method`` (its name), set by Reconstruction.
    """

    data: CartesianCine | RadialCine
    slice: int
    frame_headers: list
    header: object
    frame_dimension: str = "phase"
    coil_maps: torch.Tensor | None = None
    images: torch.Tensor | None = None
    method: str | None = None
    notes: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.data.frames
