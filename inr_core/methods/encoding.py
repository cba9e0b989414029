"""The multi-coil encoding operator shared by the classical methods.

``encoding(data, maps)`` returns ``(A, y)`` with ``A: (T, ny, nx) -> k-space`` such that every
method solves the same least-squares problem ``min ||A x - y||^2 (+ regulariser)``:

- Cartesian: ``A = M F S`` (mask, centred orthonormal FFT, coil maps), ``y`` the zero-filled k-space.
- Radial: ``A = sqrt(w) N S`` and ``y = sqrt(w) * kspace`` with the ramp density ``w``: the
  density-weighted least squares of Pruessmann's CG-SENSE, Otazo's L+S and Feng's GRASP. It makes
  ``A^H y`` the density-compensated gridding image (right intensity scale) and ``A^H A`` close to
  the identity, so step sizes near 1 and few CG iterations suffice.

With orthonormal transforms and ESPIRiT maps (``sum |s|^2 = 1``), ``||A^H A|| ~ 1`` and ``A^H y``
lives on the intensity scale of the true image; relative regularisation weights rely on that.
``A.gram`` is ``S^H (F^H M F) S`` / ``S^H (N^H w N) S`` using each factor's cheap gram (Toeplitz
for the NUFFT), applied coil by coil through buffers kept with the operator
(``inr_core.operators.normal``: no coil-expanded temporaries per iteration).
"""

from __future__ import annotations

from functools import cached_property

import torch

from inr_core.data import CartesianCine, RadialCine
from inr_core.operators import CartesianSampling, CoilSensitivity, LinearOperator, RadialNUFFT, radial_density
from inr_core.operators.normal import sense_normal


class SenseEncoding(LinearOperator):
    """``A = K S``: coil expansion followed by a k-space operator ``K``; gram ``S^H K^H K S``."""

    def __init__(self, kspace_op: LinearOperator, sense: CoilSensitivity):
        self.kspace_op, self.sense = kspace_op, sense

    def forward(self, x):
        return self.kspace_op(self.sense(x))

    def adjoint(self, y):
        return self.sense.H(self.kspace_op.H(y))

    @cached_property
    def gram(self):
        # coil by coil through buffers kept with the operator (inr_core.operators.normal): no per-call
        # coil-expanded temporaries; cached so the power iteration and the solver share the buffers
        return sense_normal(self.sense, self.kspace_op)


def encoding(data: CartesianCine | RadialCine, maps: torch.Tensor, toeplitz: bool = True):
    """``(A, y)`` for the data's trajectory (see the module docstring)."""
    sense = CoilSensitivity(maps.to(data.kspace.device, torch.complex64))
    kspace = data.kspace.to(torch.complex64)
    if isinstance(data, CartesianCine):
        return SenseEncoding(CartesianSampling(data.mask.to(kspace.device)), sense), kspace
    traj = data.trajectory_k.to(kspace.device)
    w = radial_density(traj, data.image_shape)
    if data.spoke_mask is not None:  # held-out spokes weigh nothing: A and y both lose them
        w = w * data.spoke_mask.to(w.device, w.dtype)[..., None]
    nufft = RadialNUFFT(traj, data.image_shape, weights=w, toeplitz=toeplitz)
    return SenseEncoding(nufft, sense), kspace * w.sqrt()[:, None]
