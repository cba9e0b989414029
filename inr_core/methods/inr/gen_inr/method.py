"""Generalized INR (Li et al., seeds/generalized-inr.txt): trained once, any acceleration, no fitting per scan.

A scale-embedded convolutional encoder and a coordinate MLP (``inr_core.nn.gen_inr_net``), trained
with ``gadgetron-inr train gen-inr`` (:meth:`GenInr.train`, :mod:`.training`) and shipped as package
data (``inr_core/methods/inr/weights/``, its sha256 below,
checked at load). Built once per process and configuration (``inr_core.methods.base.build``): the
weights are read in ``__init__`` and logged once; ``reconstruct`` is one batched forward pass over
every frame of the slice.

Per slice:

1. coil compression: the acquired samples of all frames give one SVD; the k-space and the coil
   maps are compressed the same way to the network's virtual coils (8 for the shipped weights), so
   any coil count works (fewer coils than virtual ones leave empty virtual coils, as in training);
   below the weights' smallest trained coil count it is an error;
2. per frame, its own mask: the zero-filled virtual-coil images (the paper's multi-coil input, no
   pre-combination) and a prior image, a few iterations of CG-SENSE on the virtual coils (3 for the
   shipped weights; 0 would be the SENSE-combined zero-filled image), both divided by the prior's
   99th-percentile magnitude; the frame's effective acceleration ``ny / acquired lines`` is the
   scale embedding's input (equispaced masks with their ACS block, kt-uniform, kt-Gaussian and
   partial Fourier alike);
3. the network predicts every frame's coil-combined image in one pass (frames independently), as
   the prior plus its correction;
4. data consistency (``data_consistency``, on by default; docs/methods-gen-inr.md has the
   measurement): the image times the compressed maps, its acquired lines replaced by the measured
   ones, SENSE-combined again.

Why a prior (a departure from the paper, measured in docs/methods-gen-inr.md): trained from scratch
on this CPU the paper's design learns little unfolding in the time there is (200 steps: +0.5 dB over
zero-filled, 15 dB below CG-SENSE at R=4); refining a short CG-SENSE it starts where SENSE is.

``weights=PATH`` uses a user's own file (from ``train gen-inr``); its sha256 is logged, not checked
(there is nothing to check it against). A missing, unreadable, corrupt or mismatched file is one
``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from inr_core.fft import fft2c, ifft2c
from inr_core.methods.base import Method
from inr_core.methods.inr.gen_inr import training
from inr_core.methods.inr.gen_inr.data import combine, compression_matrix, prepare
from inr_core.methods.inr.gen_inr.training import WEIGHTS_FORMAT, TrainConfig, sha256_of
from inr_core.nn.gen_inr_net import GenInrArch, GenInrNet

log = logging.getLogger(__name__)

# package data (pyproject: inr_core = ["methods/inr/weights/*.pt"])
SHIPPED_WEIGHTS = Path(__file__).parent.parent / "weights" / "gen_inr_v1.pt"
SHIPPED_SHA256 = "79a9f2708056d0d71cd67f9e92cf15b8ac9edd06f0fa001cee71045883e5dc31"
MATRIX_SLACK = (2 / 3, 4 / 3)  # matrices accepted around the trained range (trained 96-192: 64-256)


@dataclass
class GenInrConfig:
    weights: str = ""  # a weights file from `train gen-inr`; empty: the shipped weights
    data_consistency: bool = True  # replace the predicted acquired lines with the measured ones
    frame_batch: int = 0  # frames per forward pass (0: 4 on a CPU, where larger passes leave the cache, measured
    # 69 vs 118 ms per 192x192 frame for a 20-frame slice on one thread; the whole slice on a GPU)


def load_weights(path: str | Path, sha256: str | None = None) -> tuple[GenInrNet, dict, str]:
    """``(network, training record, sha256)`` from a weights file, or one ``ValueError``."""
    path = Path(path)
    what = f"gen-inr weights {str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{what} not found (train them with `gadgetron-inr train gen-inr -o FILE`)")
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256:
        raise ValueError(f"{what} are corrupt or replaced: sha256 {digest[:16]}... is not the shipped "
                         f"{sha256[:16]}... (reinstall the package)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is not usable
        raise ValueError(f"{what} cannot be read (not a weights file, truncated or corrupt: "
                         f"{type(exc).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{what} are not gen-inr weights (no {WEIGHTS_FORMAT!r} record)")
    try:
        arch = GenInrArch.from_dict(obj["arch"])
        net = GenInrNet(arch)
        net.load_state_dict(obj["state_dict"])
        trained = dict(obj["trained"])
        lo, hi = (int(v) for v in trained["matrix_range"])
        int(trained["min_coils"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"{what} do not match the network they declare ({detail})") from None
    if not 0 < lo <= hi:
        raise ValueError(f"{what}: invalid trained matrix range {lo}-{hi}")
    return net.eval(), trained, digest


class GenInr(Method):
    """Generalized INR: scale-embedded encoder + coordinate MLP, trained once (ms per frame, no per-scan fit)."""

    name = "gen-inr"
    Config = GenInrConfig
    trajectories = ("cartesian",)
    min_frames = 1

    def __init__(self, config=None, device="cpu"):
        super().__init__(config, device)
        shipped = not self.config.weights
        path = SHIPPED_WEIGHTS if shipped else Path(self.config.weights).expanduser()
        net, self.trained, digest = load_weights(path, SHIPPED_SHA256 if shipped else None)
        self.net = net.to(self.device)
        self.net.requires_grad_(False)
        lo, hi = self.trained["matrix_range"]
        self.matrix_range = (int(lo * MATRIX_SLACK[0]), int(hi * MATRIX_SLACK[1] + 0.5))
        self.min_coils = int(self.trained["min_coils"])
        log.info("loaded gen-inr weights %s (%s, sha256 %s, %d virtual coils, trained on %s matrices %d-%d, "
                 "%d steps) on %s", path, "shipped" if shipped else "user", digest[:16], net.arch.virtual_coils,
                 self.trained.get("source", {}).get("source", "?"), lo, hi, int(self.trained.get("steps", 0)),
                 self.device)

    @classmethod
    def train(cls, source, val_source, cfg: TrainConfig, output: str | Path, **options) -> dict:
        """Train weights on ``source`` (:class:`.data.SimulatedSource` or :class:`.data.RawSource`), validate on
        ``val_source``, write them to ``output`` (use them with ``weights=OUTPUT``); ``options`` and the
        returned report: :func:`.training.train`."""
        return training.train(source, val_source, cfg, output, **options)

    def check(self, data, coil_maps):
        super().check(data, coil_maps)
        ny, nx = data.image_shape
        lo, hi = self.matrix_range
        if not (lo <= ny <= hi and lo <= nx <= hi):
            raise ValueError(f"gen-inr weights were trained for matrices {lo}-{hi}; this slice is {ny}x{nx} "
                             f"(train weights for it with `gadgetron-inr train gen-inr --sizes ...`)")
        if data.coils < self.min_coils:
            raise ValueError(f"gen-inr weights were trained with at least {self.min_coils} coils; this scan has "
                             f"{data.coils} (train weights for it with `gadgetron-inr train gen-inr --coils ...`)")

    def reconstruct(self, data, coil_maps, progress):
        progress(0, 1, "gen-inr")
        kspace = data.kspace.to(torch.complex64)
        mask = data.mask.bool()
        arch = self.net.arch
        u = compression_matrix(kspace, mask, arch.virtual_coils)
        maps = coil_maps.to(torch.complex64)[None]
        step = self.config.frame_batch or (data.frames if self.device.type == "cuda" else 4)
        images = []
        with torch.inference_mode():
            for start in range(0, data.frames, step):
                sl = slice(start, start + step)
                p = prepare(kspace[sl], mask[sl], maps, arch.virtual_coils, arch.prior_iterations, u)
                x = self.net(p.zf, p.prior, p.r) * p.scale[:, None, None]
                if self.config.data_consistency:
                    k = fft2c(p.maps * x[:, None])
                    acquired = mask[sl][:, None, :, None]
                    x = combine(ifft2c(torch.where(acquired, p.kv, k)), p.maps)
                images.append(x)
        progress(1, 1, "gen-inr done")
        return torch.cat(images)
