"""DA-INR's optional image features: MDSR's head (Lim et al. 2017), frozen at random init, on neighbouring frames."""

from __future__ import annotations

import torch
from torch import nn


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def mdsr_head(channels: int = 64) -> nn.Sequential:
    """MDSR's head (a 3x3 conv and two residual blocks) on real/imag of two frames: 4 input channels."""
    return nn.Sequential(nn.Conv2d(4, channels, 3, padding=1), _Residual(channels), _Residual(channels))


@torch.no_grad()
def neighbour_features(gridded: torch.Tensor, channels: int) -> torch.Tensor:
    """``(T, channels, ny, nx)`` frozen random-init MDSR-head features of frames t-1 and t+1 (cyclic)."""
    head = mdsr_head(channels).to(gridded.device)
    prev, nxt = torch.roll(gridded, 1, dims=0), torch.roll(gridded, -1, dims=0)
    x = torch.stack([prev.real, prev.imag, nxt.real, nxt.imag], dim=1)
    return torch.cat([head(x[i:i + 1]) for i in range(len(x))])
