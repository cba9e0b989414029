"""The P-INR / KP-INR network (:mod:`inr_core.methods.inr.kspace_inr`, whose config it reads).

P-INR: NeRF encoding of (kx, ky) and Gaussian Fourier features of t into a WIRE MLP, one complex
output per coil. KP-INR adds the K-INR branch on U-Net features and the two branches exchange
features before and in the middle (the module docstring of the method says where each size comes from).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from inr_core.nn.encoding import GaussianFourierFeatures, NerfEncoding
from inr_core.nn.mlp import leaky_mlp
from inr_core.nn.wire import WireLayer

if TYPE_CHECKING:  # the config lives with its method, which imports this network
    from inr_core.methods.inr.kspace_inr import KpInrConfig, PInrConfig


class KSpaceINR(nn.Module):
    """P-INR branch alone (``with_kinr=False``) or the two interacting KP-INR branches."""

    def __init__(self, coils: int, image_shape: tuple[int, int], cfg: PInrConfig, with_kinr: bool):
        super().__init__()
        self.cfg, self.coils, self.with_kinr = cfg, coils, with_kinr
        max_freq = cfg.max_freq or max(image_shape) / 2
        self.space = NerfEncoding(2, cfg.space_bands, max_freq)
        self.time = GaussianFourierFeatures(1, cfg.time_features, cfg.time_sigma, seed=cfg.seed)
        n_in = self.space.out_features + self.time.out_features
        units = max(1, round(cfg.width / math.sqrt(2)))
        half = (cfg.layers - 1) // 2  # hidden layers before the middle MLP; the rest after it
        rest = cfg.layers - 1 - half
        kp = cast("KpInrConfig", cfg)  # read only with the K-INR branch, which is KP-INR's (its config has its sizes)
        extra = kp.mid_width if with_kinr else 0

        def wire(inputs: int, outputs: int, first: bool = False) -> WireLayer:
            return WireLayer(inputs, outputs, omega0=cfg.omega0, s0=cfg.s0, first=first)

        self.p_first = nn.ModuleList([wire(n_in, units, first=True)] + [wire(units, units) for _ in range(half - 1)])
        self.p_second = nn.ModuleList([wire(units + extra, units)] + [wire(units, units) for _ in range(rest - 1)])
        self.p_out = nn.Linear(units, coils, dtype=torch.complex64)
        if with_kinr:
            feat = 2 * kp.unet_channels  # real and imaginary parts of the summed decoder features
            self.k_proj = nn.Linear(feat, kp.feature_dim)
            self.p_from_k = nn.Linear(kp.feature_dim, n_in)
            self.k_from_p = nn.Linear(n_in, kp.feature_dim)
            self.k_first = leaky_mlp([kp.feature_dim] + [kp.k_width] * half, kp.leaky_slope)
            self.middle = leaky_mlp([2 * units + kp.k_width, kp.mid_width, kp.mid_width], kp.leaky_slope)
            self.k_second = leaky_mlp([kp.k_width + kp.mid_width] + [kp.k_width] * rest, kp.leaky_slope)
            self.k_out = nn.Linear(kp.k_width, 2 * coils)
        with torch.no_grad():
            for out in (self.p_out, getattr(self, "k_out", None)):
                if out is not None:
                    out.weight.mul_(cfg.out_init_scale)
                    out.bias.zero_()

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """``coords`` (n, 3) = (t, ky, kx) in [-1, 1] -> (n, 576) P-INR input."""
        return torch.cat([self.space(coords[:, 1:]), self.time(coords[:, :1])], dim=-1)

    def forward(self, coords: torch.Tensor, features: torch.Tensor | None = None):
        """(n, C) complex predictions: ``(p_inr, k_inr)``; ``k_inr`` is None without the K-INR."""
        p = self.encode(coords)
        if not self.with_kinr:
            for layer in (*self.p_first, *self.p_second):
                p = layer(p)
            return self.p_out(p), None
        if features is None:
            raise ValueError("KSpaceINR with the K-INR branch needs the U-Net features")
        k = self.k_proj(torch.cat([features.real, features.imag], dim=-1))
        p, k = p + self.p_from_k(k), k + self.k_from_p(p)
        for layer in self.p_first:
            p = layer(p)
        k = self.k_first(k)
        m = self.middle(torch.cat([p.real, p.imag, k], dim=-1))
        p = torch.cat([p, m.to(p.dtype)], dim=-1)
        for layer in self.p_second:
            p = layer(p)
        k = self.k_second(torch.cat([k, m], dim=-1))
        k = self.k_out(k)
        return self.p_out(p), torch.complex(k[:, :self.coils], k[:, self.coils:])
