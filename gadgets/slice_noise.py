"""NoiseToEverySlice: the noise scan once per slice, for chains that split a scan by slice.

A scanner sends one noise scan per measurement, before the first slice, and its readouts carry
``idx.slice`` 0. Gadgetron's ``<distributed>`` node (``AcquisitionDistributor`` on ``slice``) sends
each slice to a worker of its own, so only slice 0's worker would see the noise: every other slice
would be reconstructed without prewhitening (measured in issue 20: 4.6% off the single-server
images). Put before the distributor, this gadget sends every noise readout once per slice of the
header's ``encodingLimits.slice`` (a copy with ``idx.slice`` set to that slice), so each worker's
NoisePrewhitening computes the same whitening matrix a single server would. Other items pass
unchanged; a header without a slice limit (one slice) changes nothing.
"""

from __future__ import annotations

import logging

import ismrmrd
import numpy as np

from gadgets.base import Gadget

log = logging.getLogger(__name__)


class NoiseToEverySlice(Gadget):
    def configure(self) -> None:
        limits = self.header.encoding[0].encodingLimits
        limit = getattr(limits, "slice", None) if limits is not None else None
        low = int(getattr(limit, "minimum", 0) or 0) if limit is not None else 0
        high = int(getattr(limit, "maximum", 0) or 0) if limit is not None else 0
        self.slices = list(range(low, max(low, high) + 1))
        self.copied = 0

    def process(self, item):
        if not (isinstance(item, ismrmrd.Acquisition) and item.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)):
            return (item,)
        if len(self.slices) == 1:
            return (item,)
        copies = []
        for index in self.slices:
            copy = ismrmrd.Acquisition(item.getHead(), np.array(item.data, dtype=np.complex64),
                                       np.array(item.traj, dtype=np.float32))
            copy.idx.slice = index
            copies.append(copy)
        self.copied += 1
        return copies

    def flush(self):
        if self.copied:
            log.info("sent %d noise readouts to each of %d slices", self.copied, len(self.slices))
        return ()
