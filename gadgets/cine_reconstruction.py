"""CineReconstruction: the cine chain as one Gadgetron external target.

CineBuffer -> CoilMaps (the front end's slice stages, ``gadgets.front_end``) -> Reconstruction ->
ImageExport, composed in-process because the items between them (``CineSlice``) are not ISMRMRD types
and cannot cross a Gadgetron node boundary. Acquisitions in, images out; each property of the node
goes to the stage that declares it (``gadgets.base.Chain.route``), an unknown one is an error.

The stages after the buffer run on a ``SliceWorker`` thread: while one slice of a stack
reconstructs, the node keeps buffering the next one's readouts; the images, and their order, are
those of the stages run one after the other (``gadgets.slice_worker``). As a Gadgetron node the
worker sends each image the moment it is made (``deliver_to``), not with the next readout.
A Cartesian slice's coil maps are computed as soon as its calibration block is in, before its last
readout, and used when they are exactly the maps the complete slice gives (``gadgets.early_maps``).
"""

import logging

from gadgets.base import Chain
from gadgets.early_maps import EarlyCoilMaps
from gadgets.front_end import SLICE_STAGES
from gadgets.image_export import ImageExport
from gadgets.items import CineSlice
from gadgets.reconstruction import Reconstruction
from gadgets.slice_worker import SliceWorker

log = logging.getLogger(__name__)


class CineReconstruction(Chain):
    stages = (*SLICE_STAGES, Reconstruction, ImageExport)
    deliver = None  # set by deliver_to

    def deliver_to(self, deliver) -> None:
        """Outputs go to ``deliver(item)`` from the worker thread as they are made (call before setup)."""
        self.deliver = deliver

    def handle(self, connection) -> bool:
        self.deliver_to(connection.send)  # the node's own thread then only reads: one sender
        return super().handle(connection)

    def configure(self) -> None:
        super().configure()
        if getattr(self, "worker", None) is not None:
            self.worker.close()
            self.early.close()
        self.worker = SliceWorker(self._after_buffer, self._flush_after_buffer, name=f"{self.name}-slices",
                                  deliver=self.deliver)
        self.early = EarlyCoilMaps(self.instances[0], self.instances[1])
        self.early_jobs: dict[int, object] = {}  # id(CineSlice) -> its early coil-maps job

    def process(self, item):
        try:
            for out in self.instances[0].process(item):
                self._submit(out)
            self.early.after(item)
        except BaseException:  # the scan ends here: its threads must not outlive it
            self.worker.close()
            self.early.close()
            raise
        yield from self.worker.ready()

    def flush(self):
        for out in self.instances[0].flush():
            self._submit(out)
        try:
            yield from self.worker.finish()
        finally:
            self.early.close()

    def _submit(self, item) -> None:
        if isinstance(item, CineSlice):
            job = self.early.take(item)
            if job is not None:
                self.early_jobs[id(item)] = job
        self.worker.submit(item)

    def _after_buffer(self, item):
        """On the worker: coil maps (those made early, or now), reconstruction, export."""
        job = self.early_jobs.pop(id(item), None)
        if job is not None:
            try:
                item.coil_maps, item.intensity = job.result()
                return self._through((item,), 2)
            except Exception as exc:  # noqa: BLE001 - CoilMaps makes them again and reports its own error
                log.info("slice %d: early coil maps failed (%s): computed again", item.slice, exc)
        return self._through((item,), 1)

    def _flush_after_buffer(self):
        """Chain.flush for the stages after the buffer (on the worker, after the last slice)."""
        for i in range(1, len(self.instances)):
            yield from self._through(self.instances[i].flush(), i + 1)
