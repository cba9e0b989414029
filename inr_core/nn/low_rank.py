"""lr-inr's field: a hash-grid spatial basis times an explicit temporal basis, plus a residual.

See :mod:`inr_core.methods.inr.lr_inr` (whose config it reads) for the model and its start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from inr_core.nn.hash_grid import HashGrid

if TYPE_CHECKING:  # the config lives with its method, which imports this network
    from inr_core.methods.inr.lr_inr import LrInrConfig


class LowRankField(nn.Module):
    """``S * (U V) + R`` on the pixel grid (see the module docstring)."""

    xy: torch.Tensor
    support: torch.Tensor

    def __init__(self, cfg: LrInrConfig, shape: tuple[int, int], frames: int, support: torch.Tensor,
                 xy: torch.Tensor):
        super().__init__()
        if cfg.rank is None:
            raise ValueError("lr-inr: the field needs a resolved rank (lr_inr.resolved)")
        self.rank, self.shape = cfg.rank, shape
        finest = max(int(round(cfg.finest_factor * max(shape))), cfg.base_resolution)
        self.grid = HashGrid(2, levels=cfg.levels, features=2 * cfg.rank, base_resolution=cfg.base_resolution,
                             table_size=2**cfg.log2_table_size, finest_resolution=finest)
        self.v = nn.Parameter(torch.zeros(cfg.rank, frames, 2))
        self.r = nn.Parameter(torch.zeros(frames, *shape, 2)) if cfg.residual else None
        self.register_buffer("xy", xy, persistent=False)  # (pixels, 2) pixel-centre coordinates
        self.register_buffer("support", support, persistent=False)

    def basis(self) -> torch.Tensor:
        """``U``: ``(pixels, rank)`` complex."""
        feats = self.grid(self.xy).view(len(self.xy), self.grid.levels, self.rank, 2).sum(1)
        return torch.view_as_complex(feats.contiguous())

    def low_rank(self) -> torch.Tensor:
        x = (self.basis() @ torch.view_as_complex(self.v)).T.reshape(-1, *self.shape)
        return x * self.support

    def forward(self) -> torch.Tensor:
        x = self.low_rank()
        return x if self.r is None else x + torch.view_as_complex(self.r)
