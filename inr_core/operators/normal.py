"""Normal operators ``S^H G S`` of multi-coil encodings, computed coil by coil in buffers kept for the operator.

The iterative methods apply ``A^H A = S^H G S`` (``S`` the coil maps, ``G`` the k-space gram) once or
twice per iteration. Written as a composition, every call allocates several coil-expanded
temporaries: ``(T, C, ny, nx)`` complex64 is 47 MB for a 192x192x16 cine with 10 coils, and the
Toeplitz gram's 2x zero-padded grid is 189 MB. glibc serves blocks that large with a fresh ``mmap``
and returns them on ``free``, so the kernel maps and zeroes them again on every call: measured, more
than half of the CPU time of ``llr`` and ``grasp`` was system time (docs/classical-methods.md,
"Allocation"). Here one coil at a time goes through workspaces of one coil's size, allocated on the
first call and reused for the life of the operator (one reconstruction); only the ``(T, ny, nx)``
result is new. The arithmetic is the composition's, term for term (the shifts are permutations, so
moving them out of the coil loop changes no value); only the sum over coils runs in a loop.
On CUDA ``sense_normal`` keeps the batched composition (its caching allocator reuses memory already).

Operators built here hold mutable workspaces: one instance must not be applied from two threads at
once (each reconstruction builds its own). Under autograd (an input that requires grad) they fall
back to the plain composition, since writes into buffers cannot be differentiated.
"""

from __future__ import annotations

import torch

from inr_core.operators.base import LinearOperator

_DIMS = (-2, -1)


def _tracks_grad(x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


class CartesianSenseNormal(LinearOperator):
    """``S^H F^H M F S`` on ``(T, ny, nx)`` with a ``(T, ny)`` line mask (``F`` centred, orthonormal).

    The centred FFT is ``P fft(Q .)`` with ``Q = ifftshift``, ``P = fftshift = Q^-1``, so
    ``S^H P ifft(Q M P fft(Q S x))`` = ``P sum_c conj(Q s_c) ifft((Q M) fft((Q s_c)(Q x)))``: the maps
    and the mask are shifted once here and the image once per call, instead of four shifts per coil.
    """

    def __init__(self, maps: torch.Tensor, mask: torch.Tensor, fallback: LinearOperator):
        self.fallback = fallback
        self.maps = torch.fft.ifftshift(maps, dim=_DIMS).contiguous()  # (C, ny, nx)
        self.maps_conj = self.maps.conj().resolve_conj()
        # (T, ny) lines -> (T, ny, 1), shifted along ky only (the readout is fully sampled)
        self.mask = torch.fft.ifftshift(mask.to(torch.bool), dim=-1)[:, :, None]
        self._work: torch.Tensor | None = None

    def forward(self, x):
        if _tracks_grad(x):
            return self.fallback(x)
        xs = torch.fft.ifftshift(x, dim=_DIMS)
        if self._work is None or self._work.shape != xs.shape or self._work.dtype != xs.dtype:
            self._work = torch.empty_like(xs, memory_format=torch.contiguous_format)
        work, acc = self._work, torch.zeros_like(xs)
        for c in range(self.maps.shape[0]):
            torch.mul(xs, self.maps[c], out=work)
            torch.fft.fft2(work, dim=_DIMS, norm="ortho", out=work)
            work.mul_(self.mask)
            torch.fft.ifft2(work, dim=_DIMS, norm="ortho", out=work)
            acc.addcmul_(work, self.maps_conj[c])
        return torch.fft.fftshift(acc, dim=_DIMS)

    adjoint = forward


class ToeplitzSenseNormal(LinearOperator):
    """``S^H N^H w N S`` on ``(T, ny, nx)`` as a circular convolution of each coil image on the 2x grid.

    ``kernel`` is ``(T, 2ny, 2nx)``, the transfer function of ``N^H w N`` (``RadialNUFFT.gram``).
    The padded buffer's zero border is written once; each coil only overwrites its top-left block.
    """

    def __init__(self, maps: torch.Tensor, kernel: torch.Tensor, fallback: LinearOperator):
        self.fallback = fallback
        self.maps = maps.contiguous()
        self.maps_conj = maps.conj().resolve_conj().contiguous()
        self.kernel = kernel
        self._padded: torch.Tensor | None = None
        self._spectrum: torch.Tensor | None = None

    def forward(self, x):
        if _tracks_grad(x):
            return self.fallback(x)
        t, ny, nx = x.shape
        shape = (t, 2 * ny, 2 * nx)
        if self._padded is None or self._padded.shape != shape or self._padded.dtype != x.dtype:
            self._padded = x.new_zeros(shape)
            self._spectrum = x.new_empty(shape)
        padded, spectrum, acc = self._padded, self._spectrum, torch.zeros_like(x)
        corner = padded[:, :ny, :nx]
        for c in range(self.maps.shape[0]):
            torch.mul(x, self.maps[c], out=corner)
            torch.fft.fft2(padded, out=spectrum)
            spectrum.mul_(self.kernel)
            torch.fft.ifft2(spectrum, out=spectrum)
            acc.addcmul_(spectrum[:, :ny, :nx], self.maps_conj[c])
        return acc

    adjoint = forward


def sense_normal(sense: LinearOperator, kspace_op: LinearOperator) -> LinearOperator:
    """``S^H G S`` for coil maps ``sense`` and a k-space operator: on the CPU the buffered form where there
    is one (masked Cartesian FFT; Toeplitz radial NUFFT), else the composition of the factors' grams."""
    from inr_core.operators.fourier import CartesianSampling
    from inr_core.operators.nufft import RadialNUFFT

    composite = sense.H @ kspace_op.gram @ sense
    if sense.maps.device.type != "cpu":
        # CUDA's caching allocator already reuses freed blocks, and one batched call over the coils
        # keeps the GPU busier than a loop of smaller ones: the buffers are for glibc's sake
        return composite
    if isinstance(kspace_op, CartesianSampling):
        return CartesianSenseNormal(sense.maps, kspace_op.mask[:, 0, :, 0], composite)
    if isinstance(kspace_op, RadialNUFFT) and kspace_op.toeplitz:
        return ToeplitzSenseNormal(sense.maps, kspace_op.toeplitz_kernel[:, 0], composite)
    return composite
