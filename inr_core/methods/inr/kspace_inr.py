"""Networks and the training loop shared by KP-INR and P-INR (Cartesian multi-coil k-space INRs).

The INR maps a k-space coordinate ``(t, ky, kx)`` to the ``C`` complex coil samples there (2C real
outputs). It is fitted to the acquired samples of one cine (scan-specific: no training data), then
queried on the full grid; acquired samples are put back (hard data consistency), and the coil images
are combined with the ESPIRiT maps.

- P-INR branch: NeRF encoding of (kx, ky) (log-spaced bands, see ``inr_core.nn.encoding``) plus
  Gaussian Fourier features of t, then a WIRE MLP (``layers`` layers including the output layer).
- K-INR branch (KP-INR only): a complex U-Net auto-encoder runs on the whole multi-coil k-space; its
  decoder features at the query point (Cartesian queries sit on the grid: indexing, no interpolation)
  are summed over levels, mapped to 64 values and fed to a leaky-ReLU MLP.
- Cross-branch interaction (KP-INR): each branch's input receives a linear map of the other branch's
  input; after the first half of the layers a middle MLP reads both intermediate features and its
  output is concatenated back into each branch.

Every setting the paper leaves open is a field of :class:`InrConfig`; ``docs/methods-kp-inr.md``
lists them with the reasons for their defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from inr_core.coils import coil_combine
from inr_core.fft import ifft2c
from inr_core.nn.complex import ComplexUNet
from inr_core.nn.encoding import GaussianFourierFeatures, NerfEncoding
from inr_core.nn.loss import hdr_loss
from inr_core.nn.wire import WireLayer


@dataclass
class InrConfig:
    # Schedule and optimiser (paper values).
    epochs: int = 6000
    lr: float = 5e-5
    lr_decay: float = 0.95  # multiplied in every `decay_every` epochs ...
    decay_every: int = 500
    lr_min: float = 2e-6  # ... down to this floor
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8
    weight_decay: float = 0.1
    refresh_every: int = 500  # KP-INR: full-grid prediction + DC fed back as the U-Net input
    # An epoch is one optimiser step on `batch_points` random acquired samples; 0 = all of them
    # (the paper does not give a batch size).
    batch_points: int = 0
    # P-INR branch.
    layers: int = 7
    width: int = 512  # real-MLP width; WIRE's complex layers use width / sqrt(2) units (same parameter count)
    # WIRE frequency and spread. The encoding already spans the field of view (bands up to N/2);
    # omega0 multiplies that bandwidth, and k-space content beyond the FOV is exactly what the
    # undersampled ky lines cannot pin down: omega0 >= 2 fills the missing lines with ~3x the true
    # energy, omega0 = 1 interpolates them (docs/methods-kp-inr.md).
    omega0: float = 1.0
    s0: float = 1.0
    space_bands: int = 120  # per coordinate, sin and cos: 2 * 2 * 120 = 480 inputs
    max_freq: float = 0.0  # highest band; 0 = half the matrix size
    time_features: int = 48  # Gaussian Fourier features of t: 96 inputs
    time_sigma: float = 1.0  # B ~ N(0, 1), as the paper
    # K-INR branch and interaction (KP-INR).
    unet_channels: int = 64
    unet_levels: int = 2
    feature_dim: int = 64  # decoder features -> this many values, then the leaky-ReLU MLP
    k_width: int = 256
    mid_width: int = 256
    leaky_slope: float = 0.2
    # Loss weights (paper values).
    w_kinr: float = 1.0
    w_pinr: float = 1.0
    w_ae_acquired: float = 0.05
    w_ae_missing: float = 0.025
    hdr_eps: float = 1e-2
    # Output layers start this small (weights scaled, biases zero). The HDR loss is scale-invariant
    # for |prediction| >> hdr_eps, so an MLP that starts with O(1) outputs on k-space normalised to
    # max |k| = 1 never learns to shrink them in the weak outer k-space.
    out_init_scale: float = 1e-2
    final_data_consistency: bool = True  # put the acquired samples back into the final k-space
    chunk: int = 32768  # query points per forward pass when predicting the full grid
    seed: int = 0


def _leaky_mlp(sizes: list[int], slope: float, last_act: bool = True) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        mods.append(nn.Linear(a, b))
        if last_act or i < len(sizes) - 2:
            mods.append(nn.LeakyReLU(slope))
    return nn.Sequential(*mods)


class KSpaceINR(nn.Module):
    """P-INR branch alone (``with_kinr=False``) or the two interacting KP-INR branches."""

    def __init__(self, coils: int, image_shape: tuple[int, int], cfg: InrConfig, with_kinr: bool):
        super().__init__()
        self.cfg, self.coils, self.with_kinr = cfg, coils, with_kinr
        max_freq = cfg.max_freq or max(image_shape) / 2
        self.space = NerfEncoding(2, cfg.space_bands, max_freq)
        self.time = GaussianFourierFeatures(1, cfg.time_features, cfg.time_sigma, seed=cfg.seed)
        n_in = self.space.out_features + self.time.out_features
        units = max(1, round(cfg.width / math.sqrt(2)))
        half = (cfg.layers - 1) // 2  # hidden layers before the middle MLP; the rest after it
        rest = cfg.layers - 1 - half
        wire = dict(omega0=cfg.omega0, s0=cfg.s0)
        extra = cfg.mid_width if with_kinr else 0
        self.p_first = nn.ModuleList([WireLayer(n_in, units, first=True, **wire)]
                                     + [WireLayer(units, units, **wire) for _ in range(half - 1)])
        self.p_second = nn.ModuleList([WireLayer(units + extra, units, **wire)]
                                      + [WireLayer(units, units, **wire) for _ in range(rest - 1)])
        self.p_out = nn.Linear(units, coils, dtype=torch.complex64)
        if with_kinr:
            feat = 2 * cfg.unet_channels  # real and imaginary parts of the summed decoder features
            self.k_proj = nn.Linear(feat, cfg.feature_dim)
            self.p_from_k = nn.Linear(cfg.feature_dim, n_in)
            self.k_from_p = nn.Linear(n_in, cfg.feature_dim)
            self.k_first = _leaky_mlp([cfg.feature_dim] + [cfg.k_width] * half, cfg.leaky_slope)
            self.middle = _leaky_mlp([2 * units + cfg.k_width, cfg.mid_width, cfg.mid_width], cfg.leaky_slope)
            self.k_second = _leaky_mlp([cfg.k_width + cfg.mid_width] + [cfg.k_width] * rest, cfg.leaky_slope)
            self.k_out = nn.Linear(cfg.k_width, 2 * coils)
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


def _coordinates(index: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Grid indices (n, 3) of (t, y, x) -> coordinates in [-1, 1] (DC at 0, as ``inr_core.fft``)."""
    frames, ny, nx = shape
    t = index[:, 0].float() * (2.0 / (frames - 1)) - 1.0 if frames > 1 else torch.zeros_like(index[:, 0]).float()
    ky = (index[:, 1].float() - ny // 2) / (ny / 2)
    kx = (index[:, 2].float() - nx // 2) / (nx / 2)
    return torch.stack([t, ky, kx], dim=-1)


def _sample_features(features: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
    """Decoder features at on-grid queries, fused by addition over levels: (n, channels) complex."""
    t, y, x = index.unbind(-1)
    return sum(f[t, :, y, x] for f in features)


@dataclass
class TrainResult:
    kspace: torch.Tensor  # (T, C, ny, nx) predicted k-space on the data's scale (after DC if configured)
    losses: list[float]  # total loss per epoch


def train(data, cfg: InrConfig, with_kinr: bool, progress=None) -> TrainResult:
    """Fit a P-INR (``with_kinr=False``) or KP-INR to one Cartesian cine and predict its full k-space."""
    device = data.kspace.device
    frames, coils, ny, nx = data.kspace.shape
    shape = (frames, ny, nx)
    scale = data.kspace.abs().max().clamp_min(1e-12)  # NIK: k-space normalised to max |k| = 1
    y = data.kspace / scale
    mask = data.mask[:, :, None].expand(shape)  # (T, ny, nx)
    acquired = mask.nonzero()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model = KSpaceINR(coils, (ny, nx), cfg, with_kinr).to(device)
        unet = ComplexUNet(coils, cfg.unet_channels, cfg.unet_levels).to(device) if with_kinr else None
        params = list(model.parameters()) + (list(unet.parameters()) if unet is not None else [])
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps,
                                weight_decay=cfg.weight_decay)
        unet_input = y.clone()  # zero-filled at first; refreshed with DC'd predictions
        m4 = mask[:, None].expand_as(y)
        losses = []
        for epoch in range(cfg.epochs):
            lr = max(cfg.lr * cfg.lr_decay ** (epoch // cfg.decay_every), cfg.lr_min)
            for group in opt.param_groups:
                group["lr"] = lr
            if cfg.batch_points and cfg.batch_points < len(acquired):
                pick = torch.randperm(len(acquired), device=device)[:cfg.batch_points]
                index = acquired[pick]
            else:
                index = acquired
            target = y[index[:, 0], :, index[:, 1], index[:, 2]]  # (n, C)
            coords = _coordinates(index, shape)
            loss = torch.zeros((), device=device)
            if with_kinr:
                ae, feats = unet(unet_input)
                p_pred, k_pred = model(coords, _sample_features(feats, index))
                err = (ae - unet_input).abs() ** 2
                loss = (cfg.w_kinr * hdr_loss(k_pred, target, cfg.hdr_eps)
                        + cfg.w_ae_acquired * err[m4].mean()
                        + cfg.w_ae_missing * (err[~m4].mean() if (~m4).any() else 0.0))
            else:
                p_pred, _ = model(coords)
            loss = loss + cfg.w_pinr * hdr_loss(p_pred, target, cfg.hdr_eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            done = epoch + 1
            if with_kinr and done % cfg.refresh_every == 0 and done < cfg.epochs:
                unet_input = _predict(model, unet, unet_input, y, mask, cfg, data_consistency=True)
            if progress is not None and (done % 10 == 0 or done == cfg.epochs):
                progress(done, cfg.epochs, f"{'kp-inr' if with_kinr else 'p-inr'} epoch {done}/{cfg.epochs} "
                                           f"loss {losses[-1]:.4g}")
        full = _predict(model, unet, unet_input, y, mask, cfg, data_consistency=cfg.final_data_consistency)
    return TrainResult(kspace=full * scale, losses=losses)


@torch.no_grad()
def _predict(model, unet, unet_input, y, mask, cfg: InrConfig, data_consistency: bool) -> torch.Tensor:
    """Full-grid prediction (mean of the branches for KP-INR), optionally with hard data consistency."""
    frames, coils, ny, nx = y.shape
    feats = unet(unet_input)[1] if unet is not None else None
    index = torch.stack(torch.meshgrid(*(torch.arange(n, device=y.device) for n in (frames, ny, nx)),
                                       indexing="ij"), dim=-1).reshape(-1, 3)
    out = torch.empty(len(index), coils, dtype=y.dtype, device=y.device)
    for start in range(0, len(index), cfg.chunk):
        idx = index[start:start + cfg.chunk]
        coords = _coordinates(idx, (frames, ny, nx))
        p, k = model(coords, _sample_features(feats, idx) if feats is not None else None)
        out[start:start + cfg.chunk] = p if k is None else 0.5 * (p + k)
    pred = out.reshape(frames, ny, nx, coils).permute(0, 3, 1, 2)
    if data_consistency:
        pred = torch.where(mask[:, None].expand_as(y), y, pred)
    return pred.contiguous()


def images_from_kspace(kspace: torch.Tensor, coil_maps: torch.Tensor) -> torch.Tensor:
    return coil_combine(ifft2c(kspace), coil_maps.to(kspace.device))
