"""NoisePrewhitening: decorrelate and normalise the receiver channels with the scan's noise readouts.

Noise readouts (ACQ_IS_NOISE_MEASUREMENT) are collected, never passed on as data. When the first
other readout arrives the whitening matrix W (C x C) is computed once, and every later readout's
data becomes ``W @ data``. Without a noise scan the readouts pass unchanged (logged once).

The bandwidth ratio given to ``inr_core.noise.noise_prewhitener`` is
``noise sample_time_us / imaging sample_time_us``: noise sampled with a longer dwell time (narrower
bandwidth) has a smaller variance per sample than the imaging readouts will see.
"""

from __future__ import annotations

import logging

import ismrmrd
import numpy as np
import torch

from gadgets.base import Gadget, GadgetError

log = logging.getLogger(__name__)


def _prewhitener(noise: np.ndarray, bandwidth_ratio: float) -> np.ndarray:
    try:
        from inr_core.noise import noise_prewhitener
    except ImportError:  # temporary shim until inr_core.noise lands: the usual Cholesky whitener
        cov = noise @ noise.conj().T / max(noise.shape[1] - 1, 1) * bandwidth_ratio
        return np.linalg.inv(np.linalg.cholesky(cov)).astype(np.complex64)
    w = noise_prewhitener(torch.as_tensor(noise), bandwidth_ratio)
    return np.asarray(w.cpu().numpy() if isinstance(w, torch.Tensor) else w, dtype=np.complex64)


class NoisePrewhitening(Gadget):
    def configure(self) -> None:
        self.noise: list[np.ndarray] = []
        self.noise_dwell: float | None = None
        self.whitener: np.ndarray | None = None
        self.decided = False  # True once the first imaging readout has been seen

    def process(self, item):
        if not isinstance(item, ismrmrd.Acquisition):
            return (item,)
        if item.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT):
            if self.decided:
                log.warning("noise readout after the imaging data started: ignored")
            else:
                self.noise.append(np.asarray(item.data, dtype=np.complex64))
                self.noise_dwell = float(item.sample_time_us) or self.noise_dwell
            return ()
        if not self.decided:
            self._decide(item)
        if self.whitener is None:
            return (item,)
        if item.active_channels != self.whitener.shape[0]:
            raise GadgetError(f"coil-count mismatch: readout scan_counter {item.scan_counter} has "
                              f"{item.active_channels} channels, the noise scan {self.whitener.shape[0]}")
        whitened = ismrmrd.Acquisition(item.getHead(), (self.whitener @ item.data).astype(np.complex64),
                                       np.array(item.traj, dtype=np.float32))
        return (whitened,)

    def _decide(self, first: ismrmrd.Acquisition) -> None:
        self.decided = True
        if not self.noise:
            log.info("no noise readouts: channels are not prewhitened")
            return
        channels = {n.shape[0] for n in self.noise}
        if len(channels) != 1:
            raise GadgetError(f"noise readouts have differing channel counts {sorted(channels)}")
        noise = np.concatenate(self.noise, axis=1)
        imaging_dwell = float(first.sample_time_us)
        ratio = (self.noise_dwell / imaging_dwell) if (self.noise_dwell and imaging_dwell) else 1.0
        try:
            self.whitener = _prewhitener(noise, ratio)
        except ValueError as exc:  # e.g. a covariance that is not positive definite: bad noise data
            raise GadgetError(f"cannot prewhiten from the noise readouts: {exc}") from None
        log.info("prewhitening %d channels from %d noise samples (bandwidth ratio %.3g)",
                 noise.shape[0], noise.shape[1], ratio)
        self.noise = []
