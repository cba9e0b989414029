"""NoisePrewhitening: decorrelate the receiver channels with the scan's noise readouts.

Noise readouts (ACQ_IS_NOISE_MEASUREMENT) are collected, never passed on as data. When the first
other readout arrives the whitening matrix W (C x C) is computed once, and every later readout's
data becomes ``W @ data``. Without a noise scan the readouts pass unchanged (logged once).

The bandwidth ratio given to ``inr_core.noise.noise_prewhitener`` is
``noise sample_time_us / imaging sample_time_us``: noise sampled with a longer dwell time (narrower
bandwidth) has a smaller variance per sample than the imaging readouts will see.

Scale. A unit-variance whitener multiplies the images by about 1/noise_std, and the evaluation
protocols (and anyone comparing methods) need images on the object's scale. So by default
(property ``preserve_scale``, default true) W is divided by ``sqrt(trace(W^H W) / C)``: a mean gain
of 1 over coil directions; uncorrelated equal-variance noise leaves the data untouched.
``preserve_scale=false`` gives Gadgetron's unit-variance convention.

Whitening still changes the effective coil sensitivities from ``s`` to ``W s``, and coil maps
estimated from whitened data are normalised to ``W s / |W s|``, so images would carry the
spatially varying factor ``|W s|``. To let the cine chain undo that, the noise readouts are
forwarded after the whitening starts (property ``forward_noise``, default true), unchanged,
still flagged as noise (every stage skips them as data) and marked with ``WHITENED_MARK``
(ACQ_USER8): "the data after these were whitened with the W they give". CineBuffer recomputes W
from them with :func:`whitener` and CoilMaps rescales its maps to ``W s``.
"""

from __future__ import annotations

import logging

import ismrmrd
import numpy as np
import torch

from gadgets.base import Gadget, GadgetError

log = logging.getLogger(__name__)

WHITENED_MARK = ismrmrd.ACQ_USER8


def _flag(text: str | None, default: bool) -> bool:
    if text is None or text == "":
        return default
    return text.lower() not in ("0", "false", "no", "off")


def whitener(noise: list[np.ndarray], noise_dwell: float | None, imaging_dwell: float | None,
             preserve_scale: bool = True) -> np.ndarray:
    """W (C x C) complex64 from noise readouts (each (C, N)); see the module docstring."""
    from inr_core.noise import noise_prewhitener

    channels = {n.shape[0] for n in noise}
    if len(channels) != 1:
        raise GadgetError(f"noise readouts have differing channel counts {sorted(channels)}")
    ratio = (noise_dwell / imaging_dwell) if (noise_dwell and imaging_dwell) else 1.0
    try:
        w = noise_prewhitener(torch.from_numpy(np.concatenate(noise, axis=1)), ratio)
    except ValueError as exc:  # e.g. a covariance that is not positive definite: bad noise data
        raise GadgetError(f"cannot prewhiten from the noise readouts: {exc}") from None
    w = w.cpu().numpy().astype(np.complex64)
    if preserve_scale:
        w = w / np.sqrt(np.trace(w.conj().T @ w).real / w.shape[0])
    return w.astype(np.complex64)


class NoisePrewhitening(Gadget):
    def configure(self) -> None:
        self.preserve_scale = _flag(self.prop("preserve_scale"), True)
        self.forward_noise = _flag(self.prop("forward_noise"), True)
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
        self.whitener = whitener(noise, float(self.noise[-1].sample_time_us), float(first.sample_time_us),
                                 self.preserve_scale)
        log.info("prewhitening %d channels from %d noise samples", self.whitener.shape[0],
                 sum(n.shape[1] for n in noise))
        forwarded = []
        if self.forward_noise:
            for acq in self.noise:
                acq.set_flag(WHITENED_MARK)
                forwarded.append(acq)
        self.noise = []
        return forwarded
