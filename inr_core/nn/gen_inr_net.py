"""The Generalized INR network (Li et al., seeds/generalized-inr.txt), sized for a CPU.

``f(gamma(x), v_x^s)``: a scale-embedded convolutional encoder turns the multi-coil zero-filled
image (and a prior image, below) into a feature vector per pixel (``v``), Gaussian Fourier features
encode the pixel's coordinates (``gamma``), and an 8-layer MLP with two skips maps their
concatenation to the pixel's complex (coil-combined) value.

What is the paper's and what is not (docs/methods-gen-inr.md):
- paper: residual blocks (GroupNorm, SiLU, conv) with the acceleration added as a bias after a
  linear projection of its Gaussian Fourier embedding; Gaussian Fourier coordinate features
  (sigma 1); 8 fully connected layers, SiLU after all but the last, the input concatenated again
  before the 4th and the 7th layer; multi-coil input (no pre-combination).
- here: the encoder is a small U-Net of those blocks (3x3 convs, four stride-2 levels, 12-64
  channels) instead of five full-resolution 5x5 blocks of 64 channels. Two reasons: a 2-core CPU
  (the paper's encoder is ~60 GFLOP per 192x192 frame) and aliasing: equispaced undersampling
  folds pixels ``ny/R`` rows apart, which five full-resolution 5x5 blocks (receptive field ~45
  px) cannot see at once, while the coarsest level here spans the whole image. Widths: features
  24, coordinates 32, MLP 48 (paper 128, 256, 256). Input and output are real/imaginary parts
  (the paper's code: magnitude/phase), so a smooth background phase is no wrap-around for it.
- the acceleration is embedded as Gaussian Fourier features of ``log R`` (the paper: of ``R``),
  so one embedding frequency covers 2..8 evenly.
- the output is added to a prior image (residual learning): a few CG-SENSE iterations
  (``prior_iterations``; 0 gives the SENSE-combined zero-filled image, the paper's input), which is
  also an input channel; the network predicts what the prior lacks. Trained from scratch on a CPU
  without it the network learned almost no unfolding (docs/methods-gen-inr.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GenInrArch:
    """Everything that fixes the shapes of the network's tensors (stored with the weights)."""

    virtual_coils: int = 8
    widths: tuple[int, ...] = (12, 24, 48, 64, 64)  # encoder channels per level (full res, 1/2, ... 1/16)
    features: int = 24  # d: encoder features per pixel
    coord_features: int = 32  # 2L: Gaussian Fourier features of (x, y)
    coord_sigma: float = 1.0
    scale_features: int = 16  # Gaussian Fourier features of log R
    scale_sigma: float = 1.0
    hidden: int = 48  # MLP width
    layers: int = 8
    skips: tuple[int, ...] = (3, 6)  # 0-based: the input is concatenated before the 4th and 7th layer
    seed: int = 0  # draws the fixed Fourier matrices
    prior_iterations: int = 3  # CG-SENSE iterations of the prior image (0: SENSE-combined zero-filled)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["widths"], d["skips"] = list(self.widths), list(self.skips)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GenInrArch:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for key in ("widths", "skips"):
            if key in known:
                known[key] = tuple(int(v) for v in known[key])
        return cls(**known)

    @property
    def multiple(self) -> int:
        """Image sizes are padded to a multiple of this (one per stride-2 level)."""
        return 2 ** (len(self.widths) - 1)


def _groups(ch: int) -> int:
    return next(g for g in (8, 4, 2, 1) if ch % g == 0)


class ScaleBlock(nn.Module):
    """Residual block with the scale embedding added as a bias (the paper's Fig. 2)."""

    def __init__(self, ch: int, emb: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(ch), ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(ch), ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.scale = nn.Linear(emb, ch)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.scale(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class Encoder(nn.Module):
    """Scale-embedded U-Net: ``(B, 2Cv + 2, H, W)`` + ``(B, emb)`` -> ``(B, d, H, W)``."""

    def __init__(self, arch: GenInrArch, emb: int):
        super().__init__()
        w = arch.widths
        self.stem = nn.Conv2d(2 * arch.virtual_coils + 2, w[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([ScaleBlock(c, emb) for c in w])
        self.downs = nn.ModuleList([nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1) for i in range(len(w) - 1)])
        self.ups = nn.ModuleList([nn.Conv2d(w[i + 1], w[i], 1) for i in range(len(w) - 1)])
        self.up_blocks = nn.ModuleList([ScaleBlock(w[i], emb) for i in range(len(w) - 1)])
        self.head = nn.Conv2d(w[0], arch.features, 3, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, emb)
            if i < len(self.downs):
                skips.append(h)
                h = self.downs[i](h)
        for i in reversed(range(len(self.ups))):
            h = F.interpolate(self.ups[i](h), scale_factor=2, mode="nearest") + skips[i]
            h = self.up_blocks[i](h, emb)
        return self.head(F.silu(h))


class GenInrNet(nn.Module):
    """Encoder + coordinate MLP. ``forward(zf, prior, r)``: ``zf`` (B, Cv, H, W) complex zero-filled
    virtual-coil images and ``prior`` (B, H, W) the coil-combined prior image (both normalised), ``r``
    (B,) effective accelerations -> (B, H, W) complex coil-combined images, ``prior`` + the MLP's
    correction. ``pixels`` (B, P) long: evaluate the MLP only there (training) and return (B, P)."""

    coord_b: torch.Tensor  # buffers (declared for the type checker: nn.Module's attributes are untyped)
    scale_b: torch.Tensor

    def __init__(self, arch: GenInrArch = GenInrArch()):
        super().__init__()
        self.arch = arch
        g = torch.Generator().manual_seed(arch.seed)
        self.register_buffer("coord_b", torch.randn(arch.coord_features // 2, 2, generator=g) * arch.coord_sigma)
        self.register_buffer("scale_b", torch.randn(arch.scale_features // 2, generator=g) * arch.scale_sigma)
        emb = 64
        self.scale_mlp = nn.Sequential(nn.Linear(arch.scale_features + 1, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.encoder = Encoder(arch, emb)
        width_in = arch.features + arch.coord_features
        layers = []
        for i in range(arch.layers):
            fan_in = width_in if i == 0 else arch.hidden + (width_in if i in arch.skips else 0)
            fan_out = 2 if i == arch.layers - 1 else arch.hidden
            layers.append(nn.Linear(fan_in, fan_out))
        self.mlp = nn.ModuleList(layers)
        # A zero last layer: training starts from the zero-filled image, not from random noise added to it.
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.chunk = 8192  # MLP rows per pass at inference

    def scale_embedding(self, r: torch.Tensor) -> torch.Tensor:
        lr = torch.log(r.float())[:, None]
        proj = 2 * math.pi * lr * self.scale_b[None]
        return self.scale_mlp(torch.cat([lr, torch.cos(proj), torch.sin(proj)], dim=1))

    def coordinates(self, h: int, w: int, device) -> torch.Tensor:
        """``(H*W, 2L)`` Gaussian Fourier features of the pixel centres, (x, y) in [-1, 1) per axis."""
        y = (torch.arange(h, device=device, dtype=torch.float32) - h // 2) / (h / 2)
        x = (torch.arange(w, device=device, dtype=torch.float32) - w // 2) / (w / 2)
        xy = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1).reshape(-1, 2)
        proj = 2 * math.pi * xy @ self.coord_b.T
        return torch.cat([torch.cos(proj), torch.sin(proj)], dim=1)

    def run_mlp(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        last = len(self.mlp) - 1
        for i, layer in enumerate(self.mlp):
            if i in self.arch.skips:
                h = torch.cat([h, z], dim=-1)
            h = layer(h)
            if i < last:
                h = F.silu(h)
        return h

    def forward(self, zf: torch.Tensor, prior: torch.Tensor, r: torch.Tensor,
                pixels: torch.Tensor | None = None) -> torch.Tensor:
        b, cv, h, w = zf.shape
        if cv != self.arch.virtual_coils:
            raise ValueError(f"gen-inr network takes {self.arch.virtual_coils} virtual coils, got {cv}")
        m = self.arch.multiple
        ph, pw = (-h) % m, (-w) % m
        x = torch.cat([zf.real, zf.imag, prior.real[:, None], prior.imag[:, None]], dim=1)
        xp = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)) if ph or pw else x
        feats = self.encoder(xp, self.scale_embedding(r))[:, :, ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]
        feats = feats.flatten(2).transpose(1, 2)  # (B, HW, d)
        coords = self.coordinates(h, w, zf.device)  # (HW, 2L)
        base = torch.stack([prior.real, prior.imag], dim=-1).reshape(b, h * w, 2)  # the residual's start
        if pixels is not None:
            feats = torch.gather(feats, 1, pixels[..., None].expand(-1, -1, feats.shape[-1]))
            base = torch.gather(base, 1, pixels[..., None].expand(-1, -1, 2))
            out = base + self.run_mlp(torch.cat([feats, coords[pixels]], dim=-1))  # (B, P, 2)
            return torch.complex(out[..., 0], out[..., 1])
        # In row chunks: the MLP is bound by memory traffic, and chunks that stay in cache run it
        # about twice as fast on a CPU as one pass over every pixel of every frame.
        z = torch.cat([feats, coords[None].expand(b, -1, -1)], dim=-1).reshape(b * h * w, -1)
        out = base + torch.cat([self.run_mlp(c) for c in z.split(self.chunk)]).reshape(b, h * w, 2)
        return torch.complex(out[..., 0], out[..., 1]).reshape(b, h, w)
