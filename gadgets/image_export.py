"""ImageExport: a reconstructed ``CineSlice`` -> one ``ismrmrd.Image`` per (slice, cardiac phase).

Image array layout: numpy ``(ny, nx)`` = (phase-encode rows, readout columns), created with
``Image.from_array(..., transpose=False)`` (explicit: the default flipped between ismrmrd 1.14 and
1.15), so ``matrix_size = (nx, ny, 1)`` and ``image.data[0, 0]`` is the ``(ny, nx)`` array again.
Images larger than the header's reconSpace (phase oversampling) are cropped to it, centred.

Header: copied from the frame's reference readout (position, read/phase/slice directions,
patient_table_position, acquisition and physiology time stamps, set, contrast), then
``image_series_index`` (property, default 1: the output group is ``image_1``), ``image_index``
1-based over the scan (``slice * frames + frame + 1``), ``slice``, ``phase`` = frame number,
``repetition`` (the readout's, or 0 when the repetitions were the frames), ``image_type``,
``field_of_view`` from reconSpace. Output ``magnitude`` (float32, default) or ``complex``
(property ``output``).
"""

from __future__ import annotations

import ismrmrd
import numpy as np

from gadgets.base import Gadget, GadgetError
from gadgets.items import CineSlice


def _crop(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ny, nx = images.shape[-2:]
    ty, tx = min(shape[0], ny), min(shape[1], nx)
    y0, x0 = ny // 2 - ty // 2, nx // 2 - tx // 2
    return images[..., y0:y0 + ty, x0:x0 + tx]


class ImageExport(Gadget):
    def configure(self) -> None:
        self.output = (self.prop("output", "magnitude") or "magnitude").lower()
        if self.output not in ("magnitude", "complex"):
            raise GadgetError(f"output must be magnitude or complex, not {self.output!r}")
        self.series = int(self.prop("image_series_index", "1"))
        self.description = self.prop("sequence_description")
        recon = self.header.encoding[0].reconSpace
        self.recon_shape = (int(recon.matrixSize.y), int(recon.matrixSize.x))
        self.fov = (float(recon.fieldOfView_mm.x), float(recon.fieldOfView_mm.y), float(recon.fieldOfView_mm.z))

    def process(self, item):
        if not isinstance(item, CineSlice):
            return (item,)
        if item.images is None:
            raise GadgetError(f"slice {item.slice} reached ImageExport without images (put Reconstruction first)")
        images = _crop(item.images.numpy(), self.recon_shape)
        magnitude = np.abs(images).astype(np.float32)
        # One display window per slice, from the bright end of the magnitude (robust to outliers).
        high = float(np.percentile(magnitude, 99.5)) if magnitude.size else 0.0
        method = item.method or "unknown"
        out = []
        for frame in range(images.shape[0]):
            pixels = magnitude[frame] if self.output == "magnitude" else images[frame].astype(np.complex64)
            out.append(self._image(item, frame, np.ascontiguousarray(pixels), high, method))
        return out

    def _image(self, item: CineSlice, frame: int, pixels: np.ndarray, high: float, method: str) -> ismrmrd.Image:
        acq = item.frame_headers[frame]
        image = ismrmrd.Image.from_array(pixels, acquisition=acq, transpose=False)
        head = image.getHead()
        # Layout fixed by hand as well: from_array's shape handling changed between ismrmrd-python
        # 1.14 (Gadgetron's runtime image) and 1.15; these three fields and the data put back below
        # give the same image in both.
        head.matrix_size[:] = (pixels.shape[1], pixels.shape[0], 1)
        head.channels = 1
        head.data_type = ismrmrd.DATATYPE_FLOAT if self.output == "magnitude" else ismrmrd.DATATYPE_CXFLOAT
        head.image_type = ismrmrd.IMTYPE_MAGNITUDE if self.output == "magnitude" else ismrmrd.IMTYPE_COMPLEX
        head.image_series_index = self.series
        head.image_index = item.slice * item.frames + frame + 1
        head.slice = item.slice
        head.phase = frame
        head.repetition = 0 if item.frame_dimension == "repetition" else acq.idx.repetition
        head.average = 0
        head.field_of_view[:] = self.fov
        image.setHead(head)
        image.data[0, 0] = pixels  # setHead reshapes the buffer to (1, 1, ny, nx): put the pixels back
        image.meta = {
            "GADGETRON_DataRole": "Image",
            "GADGETRON_ImageComment": f"gadgetron-inr {method}",
            "GADGETRON_SeqDescription": self.description or f"_INR_{method}",
            "GADGETRON_WindowCenter": f"{high / 2:.6g}",
            "GADGETRON_WindowWidth": f"{high:.6g}",
            "GADGETRON_ImageNumber": str(head.image_index),
            "GADGETRON_Method": method,
        }
        return image
