"""Zero-filled (Cartesian) / density-compensated gridding (radial) reconstruction, coil-combined."""

from __future__ import annotations

from dataclasses import dataclass

from inr_core.coils import coil_combine
from inr_core.data import CartesianCine
from inr_core.fft import ifft2c
from inr_core.methods.base import Method
from inr_core.operators import RadialNUFFT, radial_density


@dataclass
class ZeroFilledConfig:
    """No options: the baseline every other method is compared with."""


class ZeroFilled(Method):
    """Zero-filled inverse FFT (Cartesian) or ramp-compensated adjoint NUFFT (radial), SENSE-combined."""

    name = "zero-filled"
    Config = ZeroFilledConfig
    trajectories = ("cartesian", "radial")

    def reconstruct(self, data, coil_maps, progress):
        progress(0, 1, "zero-filled")
        maps = coil_maps.to(data.kspace.device)
        if isinstance(data, CartesianCine):
            coil_images = ifft2c(data.kspace)
        else:
            w = radial_density(data.trajectory_k, data.image_shape)[:, None].to(data.kspace.device)
            coil_images = RadialNUFFT(data.trajectory_k, data.image_shape).H(data.kspace * w)
        images = coil_combine(coil_images, maps)
        progress(1, 1, "zero-filled done")
        return images
