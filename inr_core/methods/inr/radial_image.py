"""What the radial image INRs (``da-inr``, ``hash-inr``) share: config fields, grid, output, prediction.

Both fit a network ``rows -> complex value`` (a row is ``[x, y, t, ...]``) to the acquired spokes
of random frames (:class:`~inr_core.methods.inr.radial_loss.RadialProblem`), read a multi-resolution
hash grid sized by the same fields, can hold out spokes for honest stopping, and query the fitted
network on an output matrix and frame count of their own (``out_scale``, ``out_frames``). Each
method keeps only its network, its rows and its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from inr_core.data import RadialCine
from inr_core.methods.base import Method, no_progress
from inr_core.methods.inr.fit import FitConfig, chunked
from inr_core.methods.inr.holdout import split
from inr_core.methods.inr.radial_loss import (
    RadialProblem,
    check_out_options,
    frame_times,
    grid_coordinates,
    output_matrix,
)
from inr_core.methods.inr.refine import check_refinement, refined


@dataclass
class RadialImageInrConfig(FitConfig):
    steps: int = 1000
    frames_per_step: int = 1  # random frames whose spokes make one step's loss (DA-INR paper: 1)
    # multi-resolution hash grid (the DA-INR paper's L, F, N_min, b, T)
    levels: int = 16
    level_features: int = 2
    base_resolution: int = 16
    growth: float = 2.0
    log2_table_size: int = 19
    # > 0: the finest level's resolution is this many times the matrix (growth from eq. 8) instead of `growth`
    finest_factor: float = 0.0
    # output: spatial factor (same FOV, round(scale * n) matrix) and frames (0: as acquired)
    out_scale: float = 1.0
    out_frames: int = 0


ConfigT = TypeVar("ConfigT", bound=RadialImageInrConfig)
# The network's input rows for acquired frame k (fit, validation) / for output frame j at time t on grid xy.
FrameRows = Callable[[int], torch.Tensor]
OutputRows = Callable[[torch.Tensor, int, float], torch.Tensor]
Net = Callable[[torch.Tensor], torch.Tensor]


class RadialImageInr(Method[ConfigT]):
    """Base of the radial image INRs (not registered itself: it has no ``name``)."""

    trajectories = ("radial",)
    # One frame has no motion to share; the temporal parts of these networks and regularisers need >= 2.
    min_frames = 2

    def output_shape(self, data) -> tuple[int, int, int]:
        frames = self.config.out_frames or data.frames
        return (frames, *output_matrix(data.image_shape, self.config.out_scale))

    def check(self, data, coil_maps) -> None:
        super().check(data, coil_maps)
        check_out_options(self.config.out_scale, self.config.out_frames)
        if self.config.frames_per_step < 1:
            raise ValueError(f"{self.name}: frames_per_step must be >= 1")
        check_refinement(self, data, coil_maps)

    def __call__(self, data, coil_maps, progress=None) -> torch.Tensor:
        """The subclass's fit and output, then the optional classical refinement (``refine_iterations``,
        :mod:`inr_core.methods.inr.refine`) on all the acquired spokes, held-out ones included."""
        images = super().__call__(data, coil_maps, progress)
        return refined(images, data.to(self.device), coil_maps.to(self.device), self.config, progress or no_progress)

    def problem(self, data: RadialCine, coil_maps: torch.Tensor) -> tuple[RadialProblem, RadialCine | None]:
        """The fit's problem (held-out spokes removed) and the held-out spokes (None without ``holdout``)."""
        fit_data, held = split(data, self.config.holdout, self.config.seed)
        return RadialProblem.from_data(fit_data, coil_maps), held

    def validator(self, net: Net, problem: RadialProblem, held: RadialCine | None,
                  rows: FrameRows) -> Callable[[], float] | None:
        """The held-out spokes' loss over the frames that have any (``fit``'s honest stopping), or None."""
        if held is None:
            return None
        assert held.spoke_mask is not None
        scored = held.spoke_mask.any(1).nonzero().flatten()
        shape, chunk = problem.image_shape, self.config.chunk

        def validate() -> float:
            images = torch.stack([chunked(net, rows(int(k)), chunk).view(shape) for k in scored])
            return float(problem.loss(images, scored, mask=held.spoke_mask))

        return validate

    @torch.no_grad()
    def predict(self, net: Net, problem: RadialProblem, rows: OutputRows) -> torch.Tensor:
        """The output series (:meth:`output_shape`) on the data's intensity scale, zero outside the maps' support."""
        frames_out, ny, nx = self.output_shape(problem)
        shape = (ny, nx)
        xy = grid_coordinates(shape, problem.maps.device)
        support = problem.support(shape)
        out = [chunked(net, rows(xy, j, float(t)), self.config.chunk).view(shape) * support
               for j, t in enumerate(frame_times(frames_out, problem.frames, xy.device))]
        return torch.stack(out).to(torch.complex64) * problem.scale


def time_rows(xy: torch.Tensor, t: float) -> torch.Tensor:
    """Rows ``[x, y, t]`` for every point of ``xy``."""
    return torch.cat([xy, torch.full((len(xy), 1), float(t), device=xy.device)], dim=-1)

