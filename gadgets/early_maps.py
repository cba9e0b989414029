"""EarlyCoilMaps: a Cartesian slice's coil maps computed while its last readouts still arrive.

ESPIRiT is most of a fast method's latency (about 3.4 s of CPU for a realistic 192x192, 10-coil
slice here, zero-filled itself 0.2 s), and it only needs the calibration block: the central
``calibration_width`` lines, time-averaged (``inr_core.coils.calibration_kspace``). A segmented cine
acquires those lines in its middle heartbeat(s); the last heartbeat fills the outer k-space. So the
cine node takes a copy of the slice's calibration block once every frame has contributed to it and a
readout lands outside it (the block has gone quiet), and computes the maps from that copy on a
thread of its own while the rest of the slice arrives.

The maps are used only if they are exactly the maps the finished slice would give: when the slice
is complete its calibration block (what ESPIRiT reads) is compared with the copy, bit for bit, with
the same whitener; on any difference (a calibration line came late) the copy is dropped and CoilMaps
computes the maps as always. So the images never change, only when the maps are made. Radial
calibration pools every spoke of the slice: there the maps wait for the last readout.

It reads the cine buffer's state (row placement, the calibration sums) from inside the ``gadgets``
package: the buffer is the one place that knows where a readout goes.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

import ismrmrd
import numpy as np
import torch

from gadgets.cine_buffer import SKIPPED, CineBuffer
from gadgets.coil_maps import CoilMaps
from gadgets.items import CineSlice
from inr_core.coils import calibration_kspace, calibration_rows
from inr_core.data import CartesianCine

log = logging.getLogger(__name__)


class _Copy:
    """A slice's calibration block as copied, and the maps job started from it."""

    def __init__(self, data: CartesianCine, whitener, total: int, job: Future):
        self.data, self.whitener, self.total, self.job = data, whitener, total, job


class EarlyCoilMaps:
    def __init__(self, buffer: CineBuffer, maps: CoilMaps):
        self.buffer, self.maps = buffer, maps
        self.width = int(maps.options["width"])
        self.enabled = buffer.trajectory == "cartesian"
        self.frames = None if buffer.last_frame is None else int(buffer.last_frame) + 1
        self.window = calibration_rows(buffer.ny, self.width)
        self.seen: dict[int, set] = {}  # slice -> frames that put a readout into the calibration block
        self.copies: dict[int, _Copy] = {}
        self.executor: ThreadPoolExecutor | None = None
        self.used = self.dropped = 0

    def after(self, item) -> None:
        """Call after the buffer took ``item``: copy the block and start the maps when it has gone quiet."""
        if not (self.enabled and isinstance(item, ismrmrd.Acquisition)) or any(item.is_flag_set(f) for f in SKIPPED):
            return
        index = int(item.idx.slice)
        slice_buffer = self.buffer.slices.get(index)
        if slice_buffer is None:  # the slice is complete already
            return
        row = int(item.idx.kspace_encode_step_1) - self.buffer.center_line + self.buffer.ny // 2
        counts = slice_buffer.calibration.counts
        if row in self.window:
            if row in counts:
                self.seen.setdefault(index, set()).add(int(getattr(item.idx, self.buffer.frame_dim)))
            return
        seen = self.seen.get(index, ())
        if self.frames is None or len(seen) < self.frames:
            return
        total = sum(counts.get(r, 0) for r in self.window)
        earlier = self.copies.get(index)
        if earlier is not None and earlier.total == total:
            return  # nothing new in the block since the copy
        if any(not c.job.done() for c in self.copies.values()):
            return  # one job at a time; a later quiet readout copies again
        block = self.buffer.calibration_block(slice_buffer, self.window)
        if block is None:
            return
        whitener = self.buffer.whitener()
        # A cine that has only its calibration, time-averaged as the complete slice's will be.
        coils, ny, nx = block[0].shape
        data = CartesianCine(torch.zeros((1, coils, ny, nx), dtype=torch.complex64),
                             torch.zeros((1, ny), dtype=torch.bool), *block)
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="early-coil-maps")
        cine = CineSlice(data=data, slice=index, frame_headers=[], header=self.buffer.header, whitener=whitener)
        self.copies[index] = _Copy(data, whitener, total, self.executor.submit(self._maps, cine))
        log.debug("slice %d: coil maps started from %d calibration readouts", index, total)

    def _maps(self, cine: CineSlice):
        (done,) = list(self.maps.process(cine))
        return done.coil_maps, done.intensity

    def take(self, cine: CineSlice) -> Future | None:
        """For a complete slice: the maps job if its copy is exactly the slice's calibration block."""
        copy = self.copies.pop(cine.slice, None)
        self.seen.pop(cine.slice, None)
        if copy is None or not isinstance(cine.data, CartesianCine):
            return None
        same_whitener = (copy.whitener is None) == (cine.whitener is None) and (
            copy.whitener is None or np.array_equal(copy.whitener, cine.whitener))
        same = same_whitener and copy.data.image_shape == cine.data.image_shape and torch.equal(
            calibration_kspace(copy.data, self.width), calibration_kspace(cine.data, self.width))
        if not same:
            self.dropped += 1
            log.info("slice %d: calibration changed after the early coil maps started: computed again", cine.slice)
            return None
        self.used += 1
        return copy.job

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        if self.used or self.dropped:
            log.info("coil maps made before the slice's last readout: %d slice(s) (%d copies dropped)", self.used,
                     self.dropped)

