"""The networks of the radial image INRs (:mod:`inr_core.methods.inr.radial_image`): DA-INR, HashINR.

Their configs are the methods' dataclasses (``DaInrConfig``, ``HashInrConfig``); the module docstrings
of :mod:`inr_core.methods.inr.da_inr` and :mod:`inr_core.methods.inr.hash_inr` say what each part is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from inr_core.nn.encoding import frequency_encoding
from inr_core.nn.hash_grid import HashGrid
from inr_core.nn.mlp import mlp

if TYPE_CHECKING:  # the configs live with their methods, which import these networks
    from inr_core.methods.inr.da_inr import DaInrConfig
    from inr_core.methods.inr.hash_inr import HashInrConfig
    from inr_core.methods.inr.radial_image import RadialImageInrConfig


def image_hash_grid(cfg: RadialImageInrConfig, dims: int, matrix: int) -> HashGrid:
    """The config's ``dims``-D hash grid for a ``matrix``-pixel image (``finest_factor`` sizes its finest level)."""
    finest = max(int(round(cfg.finest_factor * matrix)), cfg.base_resolution) if cfg.finest_factor > 0 else None
    return HashGrid(dims, levels=cfg.levels, features=cfg.level_features, base_resolution=cfg.base_resolution,
                    growth=cfg.growth, table_size=2**cfg.log2_table_size, finest_resolution=finest)


class DaInrNet(nn.Module):
    """Rows ``[x, y, t, features...]`` -> complex values (see the module docstring)."""

    def __init__(self, cfg: DaInrConfig, feature_dim: int, matrix: int):
        super().__init__()
        self.cfg = cfg
        enc = 2 * (1 + 2 * cfg.degree_xy) + (1 + 2 * cfg.degree_t)
        self.deform = mlp(enc, cfg.deform_width, cfg.deform_layers, 2, bias=False)
        last = self.deform[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # identity deformation at the start
        self.grid = image_hash_grid(cfg, 2, matrix)
        self.canonical = mlp(self.grid.out_features + feature_dim, cfg.canonical_width, cfg.canonical_layers, 2)
        self.active_levels: int | None = None  # coarse-to-fine: the grid's levels from this one on give zeros

    def displacement(self, xy: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        enc = torch.cat([frequency_encoding(xy, self.cfg.degree_xy), frequency_encoding(t, self.cfg.degree_t)], -1)
        return self.deform(enc)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        xy, t, feats = rows[:, :2], rows[:, 2:3], rows[:, 3:]
        h = self.grid(xy + self.displacement(xy, t), active_levels=self.active_levels)
        out = self.canonical(torch.cat([h, feats], dim=-1) if feats.shape[1] else h)
        return torch.complex(out[:, 0], out[:, 1])

    def canonical_image(self, xy: torch.Tensor) -> torch.Tensor:
        """The canonical network at undeformed ``xy`` (no features): every frame's image while the
        deformation is the identity, as it is at the start (DA-INR's warm start fits this to a classical mean)."""
        out = self.canonical(self.grid(xy, active_levels=self.active_levels))
        return torch.complex(out[:, 0], out[:, 1])


class FrameResidual(nn.Module):
    """A complex per-pixel, per-frame image ``R_k`` (``(frames, ny, nx)``), zero at first (DA-INR's warm start:
    it holds the classical image less the network's, so that step 0 is the classical image)."""

    def __init__(self, frames: int, shape: tuple[int, int]):
        super().__init__()
        self.r = nn.Parameter(torch.zeros(frames, *shape, 2))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.view_as_complex(self.r[frames].contiguous())


class HashInrNet(nn.Module):
    """Rows ``[x, y, t]`` -> complex values; ``active_levels`` unmasks the grid coarse to fine."""

    def __init__(self, cfg: HashInrConfig, matrix: int):
        super().__init__()
        self.grid = image_hash_grid(cfg, 3, matrix)
        self.mlp = mlp(self.grid.out_features, cfg.width, cfg.layers, 2)
        self.active_levels: int | None = None

    def forward(self, xyt: torch.Tensor) -> torch.Tensor:
        out = self.mlp(self.grid(xyt, active_levels=self.active_levels))
        return torch.complex(out[:, 0], out[:, 1])
