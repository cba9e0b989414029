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

Every setting the paper leaves open is a field of :class:`PInrConfig` or :class:`KpInrConfig`;
``docs/methods-kp-inr.md`` lists them with the reasons for their defaults. The loop is
:func:`inr_core.methods.inr.fit.fit` (schedule, seed, time budget, keep-best).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inr_core.coils import coil_combine
from inr_core.fft import ifft2c
from inr_core.methods.base import no_progress
from inr_core.methods.inr.fit import FitConfig, FitReport, fit, seeded
from inr_core.nn.complex import ComplexUNet
from inr_core.nn.kspace_inr_net import KSpaceINR
from inr_core.nn.loss import hdr_loss


@dataclass
class PInrConfig(FitConfig):
    """P-INR's options (and the base of KP-INR's): the paper's schedule, the positional branch, the loss."""

    # Schedule and optimiser: the paper's values (FitConfig's `steps` are the paper's epochs).
    steps: int = 6000
    lr: float = 5e-5
    lr_decay: float = 0.95
    decay_every: int = 500
    lr_min: float = 2e-6
    weight_decay: float = 0.1
    # A step is one optimiser step on `batch_points` random acquired samples; 0 = all of them
    # (the paper does not give a batch size).
    batch_points: int = 0
    # Positional branch.
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
    hdr_eps: float = 1e-2
    # Output layers start this small (weights scaled, biases zero). The HDR loss is scale-invariant
    # for |prediction| >> hdr_eps, so an MLP that starts with O(1) outputs on k-space normalised to
    # max |k| = 1 never learns to shrink them in the weak outer k-space.
    out_init_scale: float = 1e-2
    # Virtual coils the networks see (SVD coil compression of the acquired samples; 0 = every coil).
    # Data consistency always uses every coil: the prediction is expanded back before it is applied.
    virtual_coils: int = 0
    final_data_consistency: bool = True  # put the acquired samples back into the final k-space


@dataclass
class KpInrConfig(PInrConfig):
    """KP-INR: P-INR's options plus the U-Net, the K-INR branch, their loss weights and the alternation."""

    refresh_every: int = 500  # full-grid prediction + DC fed back as the U-Net input
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
    # Beyond the paper (docs/methods-kp-inr.md has their measured effect):
    # the U-Net (with gradients and its auto-encoding loss) runs every `unet_every` steps; the steps
    # between reuse its last decoder features, detached. 1 = every step, as the paper.
    unet_every: int = 1
    # A classical Cartesian method run first ("" = none, the paper's zero-filled start): its k-space
    # (acquired samples kept) is the U-Net's first input, and with `warm_weight` > 0 also a target for
    # both branches at the missing samples, with that weight relative to the acquired samples' loss.
    warm_start: str = ""
    warm_weight: float = 0.0
    # With a warm start: the branches predict the residual to the classical k-space (its own samples at
    # the acquired points, not the data), so the INR starts from the classical reconstruction and learns
    # only what the acquired samples say it got wrong.
    warm_residual: bool = False


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
    report: FitReport  # losses per step, steps taken, time, budget stop, restored step

    @property
    def losses(self) -> list[float]:
        return self.report.losses


def coil_compression(y: torch.Tensor, mask: torch.Tensor, virtual: int) -> torch.Tensor | None:
    """``(virtual, C)`` rows of the SVD coil compression of the acquired samples; None for all coils."""
    coils = y.shape[1]
    if not virtual or virtual >= coils:
        return None
    samples = y.permute(1, 0, 2, 3)[:, mask]  # (C, acquired points)
    u = torch.linalg.svd(samples @ samples.conj().T)[0]
    return u[:, :virtual].conj().T.contiguous()


def train(data, cfg: PInrConfig, with_kinr: bool, progress=None, warm_kspace: torch.Tensor | None = None,
          held=None) -> TrainResult:
    """Fit a P-INR (``with_kinr=False``) or KP-INR to one Cartesian cine and predict its full k-space.

    ``warm_kspace`` (KP-INR only, (T, C, ny, nx) on the data's scale): a classical reconstruction's
    k-space, the U-Net's first input in place of zeros at the missing samples. ``held``: the lines
    held out of ``data`` (:func:`inr_core.methods.inr.holdout.split`): the training loss (HDR) of their
    prediction is the fit's validation loss (honest stopping), and the final data consistency puts them
    back (they are measurements; only the fit and the stopping must not see them).
    """
    device = data.kspace.device
    frames, coils, ny, nx = data.kspace.shape
    shape = (frames, ny, nx)
    scale = data.kspace.abs().max().clamp_min(1e-12)  # NIK: k-space normalised to max |k| = 1
    y_all = data.kspace / scale
    mask = data.mask[:, :, None].expand(shape)  # (T, ny, nx)
    comp = coil_compression(y_all, mask, cfg.virtual_coils)
    squeeze = (lambda k: k) if comp is None else (lambda k: torch.einsum("vc,tcyx->tvyx", comp, k))
    y = squeeze(y_all)
    m4 = mask[:, None].expand_as(y)
    acquired, missing = mask.nonzero(), (~mask).nonzero()
    warm = None if warm_kspace is None else torch.where(m4, y, squeeze(warm_kspace.to(y.dtype) / scale))
    # Residual mode: what the branches fit is the data minus the classical k-space, everywhere.
    base = squeeze(warm_kspace.to(y.dtype) / scale) if warm is not None and cfg.warm_residual else None
    fitted = y if base is None else y - base
    label = "kp-inr" if with_kinr else "p-inr"
    with seeded(cfg.seed, device):
        model = KSpaceINR(y.shape[1], (ny, nx), cfg, with_kinr).to(device)
        unet = ComplexUNet(y.shape[1], cfg.unet_channels, cfg.unet_levels).to(device) if with_kinr else None
        state = {"input": y.clone() if warm is None else warm, "features": None}

        def batch(points: torch.Tensor, n: int) -> torch.Tensor:
            return points[torch.randperm(len(points), device=device)[:n]] if n and n < len(points) else points

        def branches(index):
            return model(_coordinates(index, shape),
                         _sample_features(state["features"], index) if with_kinr else None)

        def loss_fn(step: int) -> torch.Tensor:
            index = batch(acquired, cfg.batch_points)
            target = fitted[index[:, 0], :, index[:, 1], index[:, 2]]  # (n, C)
            loss = torch.zeros((), device=device)
            if with_kinr:
                if state["features"] is None or step % max(cfg.unet_every, 1) == 0:
                    ae, features = unet(state["input"])
                    err = (ae - state["input"]).abs() ** 2
                    loss = (cfg.w_ae_acquired * err[m4].mean()
                            + cfg.w_ae_missing * (err[~m4].mean() if len(missing) else 0.0))
                    state["features"] = features
                p_pred, k_pred = branches(index)
                loss = loss + cfg.w_kinr * hdr_loss(k_pred, target, cfg.hdr_eps)
                if warm is not None and cfg.warm_weight > 0 and len(missing):
                    miss = batch(missing, len(index))
                    wp, wk = branches(miss)
                    wt = warm[miss[:, 0], :, miss[:, 1], miss[:, 2]]
                    if base is not None:
                        wt = wt - base[miss[:, 0], :, miss[:, 1], miss[:, 2]]
                    loss = loss + cfg.warm_weight * (cfg.w_pinr * hdr_loss(wp, wt, cfg.hdr_eps)
                                                     + cfg.w_kinr * hdr_loss(wk, wt, cfg.hdr_eps))
                loss = loss + cfg.w_pinr * hdr_loss(p_pred, target, cfg.hdr_eps)
            else:
                loss = hdr_loss(model(_coordinates(index, shape))[0], target, cfg.hdr_eps)
            return loss

        def after_step(step: int) -> None:
            if with_kinr:
                # Features computed with gradients belong to this step's graph; later steps reuse them detached.
                state["features"] = [f.detach() for f in state["features"]]
                done = step + 1
                if done % max(cfg.refresh_every, 1) == 0 and done < cfg.steps:
                    state["input"] = _predict(model, unet, state["input"], y, mask, cfg, data_consistency=True,
                                              base=base)
                    state["features"] = None  # the U-Net runs on the new input at the next step

        validate = None
        if held is not None:
            held_index = held.mask[:, :, None].expand(shape).nonzero()
            held_y = squeeze(held.kspace / scale)[held_index[:, 0], :, held_index[:, 1], held_index[:, 2]]
            if base is not None:
                held_y = held_y - base[held_index[:, 0], :, held_index[:, 1], held_index[:, 2]]

            def validate():  # the training loss (HDR) of the prediction at the held-out samples
                feats = unet(state["input"])[1] if with_kinr else None
                preds = []
                for start in range(0, len(held_index), cfg.chunk):
                    idx = held_index[start:start + cfg.chunk]
                    p, k = model(_coordinates(idx, shape), _sample_features(feats, idx) if with_kinr else None)
                    preds.append(p if k is None else 0.5 * (p + k))
                return float(hdr_loss(torch.cat(preds), held_y, cfg.hdr_eps))

        modules = [model] + ([unet] if unet is not None else [])
        report = fit(modules, loss_fn, cfg, progress or no_progress, label, after_step=after_step,
                     validate=validate)
        full = _predict(model, unet, state["input"], y, mask, cfg, data_consistency=False, base=base)
    if comp is not None:
        full = torch.einsum("vc,tvyx->tcyx", comp.conj(), full)  # back to every coil (comp has orthonormal rows)
    if cfg.final_data_consistency:
        full = torch.where(data.mask[:, None, :, None].expand_as(y_all), y_all, full)
        if held is not None:
            full = torch.where(held.mask[:, None, :, None].expand_as(y_all), held.kspace / scale, full)
    return TrainResult(kspace=full.contiguous() * scale, report=report)


@torch.no_grad()
def _predict(model, unet, unet_input, y, mask, cfg: PInrConfig, data_consistency: bool,
             base: torch.Tensor | None = None) -> torch.Tensor:
    """Full-grid prediction (mean of the branches for KP-INR, plus ``base`` in residual mode),
    optionally with hard data consistency."""
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
    if base is not None:
        pred = pred + base
    if data_consistency:
        pred = torch.where(mask[:, None].expand_as(y), y, pred)
    return pred.contiguous()


def images_from_kspace(kspace: torch.Tensor, coil_maps: torch.Tensor) -> torch.Tensor:
    return coil_combine(ifft2c(kspace), coil_maps.to(kspace.device))
