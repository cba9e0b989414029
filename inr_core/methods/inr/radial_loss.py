"""What the image-domain radial INRs (DA-INR, HashINR) share: coordinates, scale and the k-space L1 loss.

- Scale: the fit runs on data divided by ``scale``, the maximum of the time-averaged gridded image
  (density-compensated adjoint NUFFT, SENSE-combined: the zero-filled method's image); averaging
  over frames first removes most of the streaking, so one bright streak cannot set the scale.
  Images are returned multiplied back: on the intensity scale of ``zero-filled`` and the truth.
- Coordinates: pixel ``i`` of an ``n``-pixel axis sits at ``x = 2 (i - n//2) / n`` (``fft2c`` puts
  the k-space origin's phase reference at ``n//2``), so a finer output matrix of the same field of
  view (``out_scale``) samples the same continuous object at its own pixel centres. Frame (or
  cardiac phase) ``tau`` in ``[0, T)`` sits at ``t = -1 + 2 tau / T``: evenly spaced phases of one
  cycle, as a cine is, which ``out_frames`` resamples.
- Loss: L1 on the real and imaginary parts of the multi-coil NUFFT (:class:`RadialNUFFT`, the
  project's one scaling) of the predicted frames times the coil maps against the acquired spokes
  of those frames (DA-INR eq. 9; the mean over samples rather than the sum, which only rescales
  Adam's step-free objective). Spokes that the data's ``spoke_mask`` marks as held out
  (:mod:`inr_core.methods.inr.holdout`) weigh nothing in the gridded image and the loss;
  ``loss(..., mask=held)`` scores only them (the validation loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from inr_core.coils import coil_combine
from inr_core.operators import RadialNUFFT, radial_density
from inr_core.operators.nufft import TorchKbNufftBackend


def axis_coordinates(n: int, device=None) -> torch.Tensor:
    """Pixel centres of an ``n``-pixel axis on the [-1, 1) field of view (module docstring)."""
    return 2.0 * (torch.arange(n, device=device, dtype=torch.float32) - n // 2) / n


def grid_coordinates(shape: tuple[int, int], device=None) -> torch.Tensor:
    """``(ny * nx, 2)`` (x, y) coordinates of an image, row-major like ``image.reshape(-1)``."""
    y = axis_coordinates(shape[0], device)
    x = axis_coordinates(shape[1], device)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)


def frame_times(frames: int, cycle: int, device=None) -> torch.Tensor:
    """``t`` of ``frames`` evenly spaced phases of a cycle of ``cycle`` acquired frames."""
    tau = torch.arange(frames, device=device, dtype=torch.float32) * (cycle / frames)
    return -1.0 + 2.0 * tau / cycle


def output_matrix(image_shape: tuple[int, int], out_scale: float) -> tuple[int, int]:
    """``round(out_scale * n)`` per axis (1: as acquired), same field of view."""
    if out_scale <= 0:
        raise ValueError(f"out_scale must be > 0, got {out_scale}")
    ny, nx = (max(int(round(out_scale * n)), 1) for n in image_shape)
    return ny, nx


def resample(volume: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``(B, C, ny, nx)`` real maps bilinearly resampled at another matrix's pixel centres (same FOV)."""
    if tuple(volume.shape[-2:]) == tuple(shape):
        return volume
    ny, nx = volume.shape[-2:]
    xy = grid_coordinates(shape, volume.device).view(1, *shape, 2)
    # x = 2 (i - n//2) / n  ->  pixel index i  ->  grid_sample's align_corners=True [-1, 1].
    ix = xy[..., 0] * nx / 2 + nx // 2
    iy = xy[..., 1] * ny / 2 + ny // 2
    grid = torch.stack([2 * ix / max(nx - 1, 1) - 1, 2 * iy / max(ny - 1, 1) - 1], dim=-1)
    grid = grid.expand(volume.shape[0], -1, -1, -1)
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)


@dataclass
class RadialProblem:
    """A radial cine prepared for an image-domain INR fit (see the module docstring)."""

    kspace: torch.Tensor  # (T, C, S, N) complex, divided by scale
    trajectory_k: torch.Tensor  # (T, S, N, 2)
    maps: torch.Tensor  # (C, ny, nx) complex
    gridded: torch.Tensor  # (T, ny, nx) complex: density-compensated adjoint, divided by scale
    scale: float
    backend: TorchKbNufftBackend
    spoke_mask: torch.Tensor | None = None  # (T, S) bool: the spokes fitted; None = all

    @classmethod
    def from_data(cls, data, coil_maps: torch.Tensor) -> RadialProblem:
        maps = coil_maps.to(data.kspace.device, torch.complex64)
        kspace = data.kspace.to(torch.complex64)
        traj = data.trajectory_k.to(kspace.device)
        backend = TorchKbNufftBackend(data.image_shape, device=kspace.device)
        w = radial_density(traj, data.image_shape)[:, None]
        mask = getattr(data, "spoke_mask", None)
        if mask is not None:
            w = w * mask.to(w.device, w.dtype)[:, None, :, None]
        gridded = coil_combine(RadialNUFFT(traj, data.image_shape, backend=backend).H(kspace * w), maps)
        scale = float(gridded.mean(0).abs().max())
        if not scale > 0:
            raise ValueError("radial data: the gridded image is zero everywhere (no signal to fit)")
        return cls(kspace / scale, traj, maps, gridded / scale, scale, backend, mask)

    @property
    def frames(self) -> int:
        return self.kspace.shape[0]

    @property
    def image_shape(self) -> tuple[int, int]:
        ny, nx = self.maps.shape[-2:]
        return int(ny), int(nx)

    def support(self, shape: tuple[int, int] | None = None) -> torch.Tensor:
        """Where the coil maps see the object (``(ny, nx)`` float 0/1, optionally resampled):
        outside it the data say nothing, so the INR's values there are not returned."""
        inside = ((self.maps.abs() ** 2).sum(0) > 1e-6).to(torch.float32)[None, None]
        if shape is not None:
            inside = resample(inside, shape)
        return (inside[0, 0] > 0.5).to(torch.float32)

    def loss(self, images: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean L1 of real and imaginary k-space residuals of ``images`` ``(b, ny, nx)`` (frames ``frames``),
        over the spokes of ``mask`` ``(T, S)`` (default: the fitted spokes)."""
        nufft = RadialNUFFT(self.trajectory_k[frames], self.image_shape, backend=self.backend)
        predicted = nufft(images[:, None] * self.maps)
        residual = predicted - self.kspace[frames]
        mask = self.spoke_mask if mask is None else mask
        if mask is None:
            return residual.real.abs().mean() + residual.imag.abs().mean()
        m = mask[frames].to(residual.real.dtype)[:, None, :, None]  # (b, 1, S, 1)
        count = (m.sum() * residual.shape[1] * residual.shape[3]).clamp_min(1.0)
        return ((residual.real.abs() + residual.imag.abs()) * m).sum() / count


def check_out_options(out_scale: float, out_frames: int) -> None:
    if out_scale <= 0:
        raise ValueError(f"out_scale must be > 0, got {out_scale}")
    if out_frames < 0:
        raise ValueError(f"out_frames must be >= 0 (0: as acquired), got {out_frames}")
