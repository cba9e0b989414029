"""NoisePrewhitening: decorrelate the receiver channels with the scan's noise readouts.

Noise readouts (ACQ_IS_NOISE_MEASUREMENT) are collected, never passed on as data. When the first
other readout arrives the whitening matrix W (C x C) is computed once, and every later readout's
data becomes ``W @ data``. Without a noise scan the readouts pass unchanged (logged once).

W comes from ``inr_core.noise.prewhitener_from_readouts`` (bandwidth ratio from the noise and
imaging ``sample_time_us``).

Scale: by default (property ``preserve_scale``, default true) W keeps the data's mean gain (see
``inr_core.noise``); ``preserve_scale=false`` gives Gadgetron's unit-variance convention.

Whitening changes the effective coil sensitivities from ``s`` to ``W s``, and coil maps estimated
from whitened data are normalised to ``W s / |W s|``, so images would carry the spatially varying
factor ``|W s|``. To let the cine chain undo that, the noise readouts are forwarded after the
whitening starts (property ``forward_noise``, default true), unchanged, still flagged as noise
(every stage skips them as data) and marked with ``WHITENED_MARK``
(ACQ_USER8): "the data after these were whitened with the W they give", and ``UNIT_VARIANCE_MARK``
(ACQ_USER7) when ``preserve_scale=false``. In the same process they also carry W itself (attribute
``whitener``), so W is computed once; across a Gadgetron node boundary only ISMRMRD items travel and
CineBuffer recomputes the same W from them with the same function
(``inr_core.noise.prewhitener_from_readouts``). CoilMaps derives the images' intensity correction
from it (``inr_core.coils.coil_maps_and_intensity``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ismrmrd
import numpy as np

from gadgets.base import Gadget, GadgetError, NodeConfig
from inr_core.noise import prewhitener_from_readouts

log = logging.getLogger(__name__)

WHITENED_MARK = ismrmrd.ACQ_USER8
UNIT_VARIANCE_MARK = ismrmrd.ACQ_USER7  # with WHITENED_MARK: W was made with preserve_scale=false


class NoisePrewhitening(Gadget):
    @dataclass
    class Config(NodeConfig):
        preserve_scale: bool = True  # W keeps the data's mean gain (false: Gadgetron's unit variance)
        forward_noise: bool = True  # pass the noise readouts on, marked, once whitening starts

    def configure(self) -> None:
        self.preserve_scale = self.config.preserve_scale
        self.forward_noise = self.config.forward_noise
        self.noise: list[ismrmrd.Acquisition] = []
        self.whitener: np.ndarray | None = None
        self.decided = False  # True once the first imaging readout has been seen

    def process(self, item):
        if not isinstance(item, ismrmrd.Acquisition):
            return (item,)
        if item.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT):
            if self.decided:
                log.warning("noise readout after the imaging data started: ignored")
            else:
                self.noise.append(item)
            return ()
        out = []
        if not self.decided:
            out += self._decide(item)
        if self.whitener is None:
            return [*out, item]
        if item.active_channels != self.whitener.shape[0]:
            raise GadgetError(f"coil-count mismatch: readout scan_counter {item.scan_counter} has "
                              f"{item.active_channels} channels, the noise scan {self.whitener.shape[0]}")
        whitened = ismrmrd.Acquisition(item.getHead(), (self.whitener @ item.data).astype(np.complex64),
                                       np.array(item.traj, dtype=np.float32))
        return [*out, whitened]

    def _decide(self, first: ismrmrd.Acquisition) -> list:
        self.decided = True
        if not self.noise:
            log.info("no noise readouts: channels are not prewhitened")
            return []
        noise = [np.asarray(n.data, np.complex64) for n in self.noise]
        try:
            self.whitener = prewhitener_from_readouts(noise, float(self.noise[-1].sample_time_us),
                                                      float(first.sample_time_us), self.preserve_scale)
        except ValueError as exc:  # e.g. a covariance that is not positive definite: bad noise data
            raise GadgetError(f"cannot prewhiten from the noise readouts: {exc}") from None
        log.info("prewhitening %d channels from %d noise samples", self.whitener.shape[0],
                 sum(n.shape[1] for n in noise))
        forwarded = []
        if self.forward_noise:
            for acq in self.noise:
                acq.set_flag(WHITENED_MARK)
                if not self.preserve_scale:
                    acq.set_flag(UNIT_VARIANCE_MARK)
                acq.whitener = self.whitener  # read by CineBuffer in this process (see the module docstring)
                forwarded.append(acq)
        self.noise = []
        return forwarded
