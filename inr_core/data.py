"""Cine k-space containers: what a reconstruction method receives.

Conventions (shared by every module):
- Cartesian k-space is ``(frames, coils, ny, nx)`` complex64, zero where not acquired, with a
  per-frame phase-encode mask ``(frames, ny)``; the readout (x) is always fully sampled and
  already has its oversampling removed. DC sits at index ``ny//2, nx//2`` (see ``inr_core.fft``).
- Radial k-space is ``(frames, coils, spokes, samples)`` complex64 with a trajectory
  ``(frames, spokes, samples, 2)`` float32 holding (kx, ky) in cycles per field of view, i.e.
  in ``[-n/2, n/2)`` for an ``n x n`` image. Operators convert to whatever their backend wants.
- Images are ``(frames, ny, nx)`` complex64, coil-combined.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass
class CartesianCine:
    kspace: torch.Tensor  # (T, C, ny, nx) complex
    mask: torch.Tensor  # (T, ny) bool
    # Separately acquired calibration lines (ACQ_IS_PARALLEL_CALIBRATION only), time-averaged:
    # (C, ny, nx) complex with a (ny,) bool line mask. None when the ACS is embedded in the data.
    calibration: torch.Tensor | None = None
    calibration_mask: torch.Tensor | None = None

    trajectory = "cartesian"

    def __post_init__(self):
        if self.kspace.ndim != 4:
            raise ValueError(f"Cartesian k-space must be (frames, coils, ny, nx), got {tuple(self.kspace.shape)}")
        t, _, ny, _ = self.kspace.shape
        if tuple(self.mask.shape) != (t, ny):
            raise ValueError(f"mask shape {tuple(self.mask.shape)} does not match (frames, ny) = {(t, ny)}")

    @property
    def frames(self) -> int:
        return self.kspace.shape[0]

    @property
    def coils(self) -> int:
        return self.kspace.shape[1]

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.kspace.shape[-2]), int(self.kspace.shape[-1])

    @property
    def sampling(self) -> torch.Tensor:
        """Boolean (T, 1, ny, nx) sampling mask broadcastable against the k-space."""
        return self.mask[:, None, :, None].expand(-1, 1, -1, self.kspace.shape[-1])

    def to(self, device) -> CartesianCine:
        move = lambda v: v.to(device) if isinstance(v, torch.Tensor) else v  # noqa: E731
        return replace(self, kspace=move(self.kspace), mask=move(self.mask),
                       calibration=move(self.calibration), calibration_mask=move(self.calibration_mask))


@dataclass
class RadialCine:
    kspace: torch.Tensor  # (T, C, spokes, samples) complex
    trajectory_k: torch.Tensor  # (T, spokes, samples, 2) float, cycles per FOV
    image_shape: tuple[int, int]
    # (T, spokes) bool: spokes to use; None = all. False marks a spoke held out of the fit (the INRs'
    # validation spokes): the encoding gives it zero weight, so every method ignores it.
    spoke_mask: torch.Tensor | None = None

    trajectory = "radial"

    def __post_init__(self):
        if self.kspace.ndim != 4:
            raise ValueError(f"radial k-space must be (frames, coils, spokes, samples), got {tuple(self.kspace.shape)}")
        t, _, s, n = self.kspace.shape
        if tuple(self.trajectory_k.shape) != (t, s, n, 2):
            raise ValueError(
                f"trajectory shape {tuple(self.trajectory_k.shape)} does not match "
                f"(frames, spokes, samples, 2) = {(t, s, n, 2)}")
        if self.spoke_mask is not None and tuple(self.spoke_mask.shape) != (t, s):
            raise ValueError(
                f"spoke mask shape {tuple(self.spoke_mask.shape)} does not match (frames, spokes) = {(t, s)}")
        self.image_shape = tuple(int(v) for v in self.image_shape)

    @property
    def frames(self) -> int:
        return self.kspace.shape[0]

    @property
    def coils(self) -> int:
        return self.kspace.shape[1]

    def to(self, device) -> RadialCine:
        mask = None if self.spoke_mask is None else self.spoke_mask.to(device)
        return replace(self, kspace=self.kspace.to(device), trajectory_k=self.trajectory_k.to(device), spoke_mask=mask)


CineKSpace = CartesianCine | RadialCine  # what a method receives (inr_core.methods.base)
