"""The multi-coil encoding operator shared by the classical methods.

``encoding(data, maps)`` returns ``(A, y)`` with ``A: (T, ny, nx) -> k-space`` such that every
method solves the same least-squares problem ``min ||A x - y||^2 (+ regulariser)``:

- Cartesian: ``A = M F S`` (mask, centred orthonormal FFT, coil maps), ``y`` the zero-filled k-space.
- Radial: ``A = sqrt(w) N S`` and ``y = sqrt(w) * kspace`` with the ramp density ``w``: the
  density-weighted least squares of Pruessmann's CG-SENSE, Otazo's L+S and Feng's GRASP. It makes
  ``A^H y`` the density-compensated gridding image (right intensity scale) and ``A^H A`` close to
  the identity, so step sizes of 1 and few CG iterations suffice.

With orthonormal transforms and ESPIRiT maps (``sum |s|^2 = 1``), ``||A^H A|| <= ~1`` and ``A^H y``
lives on the intensity scale of the true image; relative regularisation weights rely on that.
"""

from __future__ import annotations

import torch

from inr_core.data import CartesianCine, RadialCine
from inr_core.operators import CartesianSampling, CoilSensitivity, LinearOperator, RadialNUFFT, radial_density


class Weight(LinearOperator):
    """Elementwise multiplication by a real weight (self-adjoint)."""

    def __init__(self, w: torch.Tensor):
        self.w = w

    def forward(self, x):
        return x * self.w

    def adjoint(self, y):
        return y * self.w


def encoding(data: CartesianCine | RadialCine, maps: torch.Tensor) -> tuple[LinearOperator, torch.Tensor]:
    sense = CoilSensitivity(maps.to(data.kspace.device, torch.complex64))
    kspace = data.kspace.to(torch.complex64)
    if isinstance(data, CartesianCine):
        return CartesianSampling(data.mask.to(kspace.device)) @ sense, kspace
    sqrt_w = radial_density(data.trajectory_k, data.image_shape).sqrt()[:, None].to(kspace.device)
    nufft = RadialNUFFT(data.trajectory_k.to(kspace.device), data.image_shape)
    return Weight(sqrt_w) @ nufft @ sense, kspace * sqrt_w
