"""Radial (non-Cartesian) Fourier operator and density compensation.

Trajectories follow ``inr_core.data``: ``(T, S, N, 2)`` holding (kx, ky) in cycles per field of
view. The operator is scaled like the orthonormal ``fft2c``: on a Cartesian grid of k positions it
reproduces ``fft2c`` (checked in the tests), so radial and Cartesian images share one intensity scale.
"""

from __future__ import annotations

import math

import torch

from inr_core.operators.base import LinearOperator

GRID_BUDGET_BYTES = 32 * 2**20  # per backend call on the CPU (RadialNUFFT._by_frames)


class TorchKbNufftBackend:
    """torchkbnufft (Kaiser-Bessel table interpolation, 2x grid): pure PyTorch, runs on any device.

    A backend maps ``(B, C, ny, nx)`` images and radian frequencies ``omega (B, 2, K)`` to
    ``(B, C, K)`` samples and back; the batch axis carries the frames, each with its own omega.
    Another backend (e.g. finufft) only has to provide the same two methods.
    """

    def __init__(self, image_shape, device=None, numpoints: int = 6):
        import torchkbnufft as tkbn

        self.forward_op = tkbn.KbNufft(im_size=tuple(image_shape), numpoints=numpoints).to(device)
        self.adjoint_op = tkbn.KbNufftAdjoint(im_size=tuple(image_shape), numpoints=numpoints).to(device)

    def forward(self, image, omega):
        return self.forward_op(image, omega)

    def adjoint(self, samples, omega):
        return self.adjoint_op(samples, omega)


def trajectory_to_omega(trajectory_k: torch.Tensor, image_shape) -> torch.Tensor:
    """``(T, S, N, 2)`` (kx, ky) cycles/FOV -> ``(T, 2, S*N)`` radians in (row, column) order.

    Images are ``(ny, nx)``, so the first frequency axis is ky: omega = 2 pi k / n.
    """
    ny, nx = image_shape
    t = trajectory_k.shape[0]
    k = trajectory_k.reshape(t, -1, 2).to(torch.float32)
    return torch.stack([k[..., 1] * (2 * math.pi / ny), k[..., 0] * (2 * math.pi / nx)], dim=1)


class RadialNUFFT(LinearOperator):
    """``(T, C, ny, nx)`` images -> ``(T, C, S, N)`` radial samples; frame t uses its own spokes.

    ``weights`` ``(T, S, N)`` (optional, real, e.g. the density) make this ``sqrt(w) * NUFFT``: the
    weighted least-squares operator of gridding-style iterative methods. ``gram`` (``N^H w N``) is
    then computed with torchkbnufft's Toeplitz embedding (2x zero-padded FFT filter, kernel built once
    per frame on first use): about 3x faster than a forward plus adjoint NUFFT on 2 CPU cores at
    128x128, which is what makes 50-100 iterations of L+S or GRASP affordable.
    """

    def __init__(self, trajectory_k: torch.Tensor, image_shape, weights: torch.Tensor | None = None,
                 backend=None, toeplitz: bool = True):
        self.image_shape = tuple(int(v) for v in image_shape)
        self.spokes, self.samples = trajectory_k.shape[1:3]
        self.omega = trajectory_to_omega(trajectory_k, self.image_shape)
        self.backend = backend or TorchKbNufftBackend(self.image_shape, device=trajectory_k.device)
        # torchkbnufft's own "ortho" divides by the (oversampled) grid size; sqrt(ny*nx) matches fft2c.
        self.scale = 1.0 / math.sqrt(self.image_shape[0] * self.image_shape[1])
        self.weights = None if weights is None else weights.reshape(weights.shape[0], 1, -1).to(torch.float32)
        self.sqrt_weights = None if weights is None else self.weights.sqrt()
        self.toeplitz = toeplitz
        self._kernel = None

    def _by_frames(self, apply, data: torch.Tensor) -> torch.Tensor:
        """``apply(data, omega)`` over chunks of frames whose 2x grids (torchkbnufft's working array, ``C``
        coils x ``2ny x 2nx``) stay within ``GRID_BUDGET_BYTES`` on the CPU: a 192x192x16 cine with 10
        coils otherwise grids 189 MB at once, which glibc maps afresh and the kernel zeroes on each call.
        Frames are independent (each has its own omega), so the chunks give the same numbers. At least
        ``torch.get_num_threads()`` frames per chunk: torchkbnufft spreads the frames over the threads."""
        per_frame = data.shape[1] * 4 * self.image_shape[0] * self.image_shape[1] * data.element_size()
        step = max(1, torch.get_num_threads(), GRID_BUDGET_BYTES // per_frame)
        if data.device.type != "cpu" or step >= data.shape[0]:
            return apply(data, self.omega)
        return torch.cat([apply(data[t:t + step], self.omega[t:t + step]) for t in range(0, data.shape[0], step)])

    def forward(self, x):
        y = self._by_frames(self.backend.forward, x) * self.scale
        if self.sqrt_weights is not None:
            y = y * self.sqrt_weights
        return y.reshape(*y.shape[:2], self.spokes, self.samples)

    def adjoint(self, y):
        y = y.reshape(*y.shape[:2], -1)
        if self.sqrt_weights is not None:
            y = y * self.sqrt_weights
        return self._by_frames(self.backend.adjoint, y) * self.scale

    @property
    def gram(self):
        if not self.toeplitz:
            return self.H @ self
        return _ToeplitzGram(self.toeplitz_kernel, self.image_shape)

    @property
    def toeplitz_kernel(self) -> torch.Tensor:
        """``(T, 1, 2ny, 2nx)``: the transfer function of ``N^H w N`` on the 2x grid, built on first use."""
        if self._kernel is None:
            import torchkbnufft as tkbn

            weights = None if self.weights is None else self.weights.to(torch.complex64)
            kernel = tkbn.calc_toeplitz_kernel(self.omega, self.image_shape, weights=weights)
            # The kernel is the unnormalised N^H w N transfer function; ifft2 over the doubled grid divides by
            # 4 ny nx where our NUFFT's scale**2 is 1 / (ny nx): hence the factor 4 (checked in the tests).
            grid_ratio = 4.0
            self._kernel = (kernel * grid_ratio)[:, None]  # (T, 1, 2ny, 2nx)
        return self._kernel


class _ToeplitzGram(LinearOperator):
    """``N^H w N`` as a circular convolution on the 2x zero-padded grid (self-adjoint)."""

    def __init__(self, kernel, image_shape):
        self.kernel, self.image_shape = kernel, image_shape

    def forward(self, x):
        ny, nx = self.image_shape
        padded = torch.nn.functional.pad(x, (0, nx, 0, ny))
        return torch.fft.ifft2(torch.fft.fft2(padded) * self.kernel)[..., :ny, :nx]

    adjoint = forward


def radial_density(trajectory_k: torch.Tensor, image_shape=None) -> torch.Tensor:
    """Density compensation ``(T, S, N)`` for full-diameter radial spokes (analytic ramp).

    Each sample is weighted by the area of k-space it represents, in units of one Cartesian grid
    cell (cycles/FOV squared): ``w = pi * max(|k|, dk/4) * dk / S`` for S spokes per frame spread
    over 180 degrees with sample spacing dk along the spoke. The DC floor is the disc of radius dk/2
    shared by the S spokes that all cross it. With this absolute scale, ``A^H (w * A x)`` of a
    fully sampled (Nyquist: pi/2 * n spokes) acquisition returns ``x`` at its own intensity, and
    undersampled frames keep the same scale.

    Why the ramp rather than Pipe-Menon iterations: golden-angle spokes within a frame are close
    to uniformly spread, the ramp is exact in scale, costs nothing and needs no NUFFT. ``image_shape``
    is accepted for interface symmetry; the ramp does not depend on it.
    """
    del image_shape
    k = trajectory_k.to(torch.float32)
    radius = torch.linalg.vector_norm(k, dim=-1)  # (T, S, N)
    spokes = k.shape[1]
    steps = torch.linalg.vector_norm(k[:, :, 1:] - k[:, :, :-1], dim=-1)
    dk = float(steps.median()) if steps.numel() else 1.0
    return math.pi * radius.clamp_min(dk / 4) * dk / spokes
