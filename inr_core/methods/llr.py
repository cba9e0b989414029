"""Locally low rank (Trzasko and Manduca 2011; Zhang et al. 2015): a dynamic series whose small
image blocks each vary over time in a few ways only.

    min_x  1/2 ||A x - y||^2 + lambda sum_b ||C_b x||_*

``C_b`` cuts block ``b`` (``block`` x ``block`` pixels, all frames) out as a ``(pixels, frames)``
Casorati matrix, ``||.||_*`` is the nuclear norm, ``A`` the multi-coil encoding of
``inr_core.methods.encoding``. Solved with FISTA: a gradient step on the data term, then the
proximal map of the block nuclear norms (soft-thresholding the singular values of every block). The
block grid is shifted by a random offset every iteration (cyclically, fixed seed, so a run is
reproducible), as BART's ``pics -R L`` does: fixed blocks leave their edges visible, and the
shifted grids approximate the translation-invariant penalty over all overlapping blocks at the
cost of one grid per iteration.

``lam`` is relative (fixed, never per file): ``lambda = lam * s_max * ||A^H A||``, with ``s_max`` the
largest singular value of any block of the zero-filled / gridded series ``A^H y`` (the data's
scale) and ``||A^H A||`` the data term's curvature (about 1 Cartesian, about 8 for density-weighted
13-spoke radial). With ``step = 1 / ||A^H A||`` the threshold of one step is then ``lam * s_max``.
Measured on the seed-0 files: relative to ``s_max`` alone, the best radial weight is ~10x the
Cartesian one; relative to both, one ``lam`` serves both trajectories.
``lam`` 0.001 and 40 iterations were chosen once on seed-0 simulations (docs/classical-methods.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inr_core.methods.proximal import FISTA, ProximalMethod


@dataclass
class LLRConfig:
    iterations: int = 40
    lam: float = 0.001  # nuclear-norm weight, relative to the largest block singular value of A^H y and ||A^H A||
    block: int = 8  # block side in pixels
    seed: int = 0  # the random block shifts


def _blocks(x: torch.Tensor, block: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(T, ny, nx)`` -> ``(blocks, block*block, T)`` Casorati matrices, zero-padded to whole blocks."""
    t, ny, nx = x.shape
    py, px = -ny % block, -nx % block
    x = torch.nn.functional.pad(x, (0, px, 0, py))
    by, bx = x.shape[1] // block, x.shape[2] // block
    cas = x.reshape(t, by, block, bx, block).permute(1, 3, 2, 4, 0).reshape(by * bx, block * block, t)
    return cas, (by, bx)


def _unblocks(cas: torch.Tensor, grid: tuple[int, int], block: int, shape: tuple[int, int]) -> torch.Tensor:
    by, bx = grid
    t = cas.shape[-1]
    x = cas.reshape(by, bx, block, block, t).permute(4, 0, 2, 1, 3).reshape(t, by * block, bx * block)
    return x[:, :shape[0], :shape[1]]


def block_svt(x: torch.Tensor, threshold: float, block: int, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Soft-threshold the singular values of every block of ``x`` (grid offset ``shift``, cyclic)."""
    shifted = torch.roll(x, shifts=shift, dims=(1, 2))
    cas, grid = _blocks(shifted, block)
    u, s, vh = torch.linalg.svd(cas, full_matrices=False)
    cas = (u * (s - threshold).clamp_min(0).to(u.dtype)[:, None, :]) @ vh
    out = _unblocks(cas, grid, block, x.shape[1:])
    return torch.roll(out, shifts=(-shift[0], -shift[1]), dims=(1, 2))


def largest_block_singular_value(x: torch.Tensor, block: int) -> float:
    cas, _ = _blocks(x, block)
    return float(torch.linalg.matrix_norm(cas, ord=2).max())


class LLR(ProximalMethod):
    """Locally low rank (random-shift blocks, FISTA) with multi-coil data consistency."""

    name = "llr"
    Config = LLRConfig
    trajectories = ("cartesian", "radial")
    presets = {"fast": {"iterations": 15}, "paper": {"iterations": 40}}

    def iteration(self, problem, data, start=None):
        config = self.config
        # = step * lambda with step = 1 / ||A^H A||, see the module docstring; with a pull (the refinement after
        # an INR, inr/refine.py) the step is 1 / (||A^H A|| + mu) and lambda stays what it is without one
        threshold = config.lam * largest_block_singular_value(problem.rhs, config.block) * (
            problem.lipschitz / problem.curvature)
        shifts = torch.randint(0, config.block, (config.iterations, 2),
                               generator=torch.Generator().manual_seed(config.seed)).tolist()
        return FISTA(problem, lambda v, k: block_svt(v, threshold, config.block, tuple(shifts[k])), start)
