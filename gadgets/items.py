"""Items passed between the cine stages inside one external node (not ISMRMRD types)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
    - ``whitener``: the ``(C, C)`` prewhitening matrix W the data went through, or None (set by
      CineBuffer from the noise readouts NoisePrewhitening forwards);
    - ``coil_maps`` ``(C, ny, nx)`` complex, unit-norm, and ``intensity``: ``(ny, nx)`` float or None,
      the factor that puts images made with those maps on the object's scale (set by CoilMaps, from
      ``inr_core.coils.coil_maps_and_intensity``; Reconstruction multiplies it in);
    - ``images`` ``(T, ny, nx)`` complex, and ``method`` (its name), set by Reconstruction;
    - ``kind``: ``"image"``, or ``"preview"`` for the fast preview Reconstruction sends first when
      asked (ImageExport gives each kind its own image series);
    - ``fallback``: set when the selected method failed and the fallback method made the images
      (the reason, e.g. ``kp-inr failed: out of memory``).
    """

    data: CartesianCine | RadialCine
    slice: int
    frame_headers: list
    header: object
    frame_dimension: str = "phase"
    whitener: np.ndarray | None = None
    coil_maps: torch.Tensor | None = None
    intensity: torch.Tensor | None = None
    images: torch.Tensor | None = None
    method: str | None = None
    kind: str = "image"
    fallback: str | None = None  # why the fallback method made the images, when it did

    @property
    def frames(self) -> int:
        return self.data.frames
