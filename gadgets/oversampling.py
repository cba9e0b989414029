"""RemoveReadoutOversampling: halve the readout when the encoded FOV is twice the recon FOV.

Per readout: centred inverse FFT along the samples, keep the central half of the profile (the
recon FOV), centred FFT back. ``center_sample``, ``discard_pre``/``discard_post`` are halved.
For radial readouts the remaining samples sit at every second k-space position of the original
spoke (index ``2j`` for new index ``j`` when the centre is at ``N/2``), so the trajectory keeps
``traj[0::2]``, whose values (cycles per recon FOV) stay correct.
Readouts are passed unchanged when the header shows no 2x oversampling.
"""

from __future__ import annotations

import ismrmrd
import numpy as np

from gadgets.base import Gadget


def _cfft(x: np.ndarray, inverse: bool) -> np.ndarray:
    x = np.fft.ifftshift(x, axes=-1)
    x = np.fft.ifft(x, axis=-1, norm="ortho") if inverse else np.fft.fft(x, axis=-1, norm="ortho")
    return np.fft.fftshift(x, axes=-1)


def remove_oversampling(data: np.ndarray) -> np.ndarray:
    """(C, N) k-space readouts with 2x oversampling -> (C, N/2)."""
    n = data.shape[-1]
    profile = _cfft(data, inverse=True)
    start = n // 4
    return _cfft(profile[..., start:start + n // 2], inverse=False).astype(np.complex64)


class RemoveReadoutOversampling(Gadget):
    def configure(self) -> None:
        enc = self.header.encoding[0]
        self.active = int(enc.encodedSpace.matrixSize.x) == 2 * int(enc.reconSpace.matrixSize.x)

    def process(self, item):
        if not self.active or not isinstance(item, ismrmrd.Acquisition):
            return (item,)
        if item.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) or item.number_of_samples % 2:
            return (item,)
        head = item.getHead()
        n = item.number_of_samples
        head.number_of_samples = n // 2
        head.center_sample = item.center_sample // 2
        head.discard_pre = item.discard_pre // 2
        head.discard_post = item.discard_post // 2
        traj = np.array(item.traj, dtype=np.float32)
        traj = np.ascontiguousarray(traj[0::2]) if traj.size else np.zeros((n // 2, 0), np.float32)
        return (ismrmrd.Acquisition(head, remove_oversampling(np.asarray(item.data)), traj),)
