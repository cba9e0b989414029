"""Multi-resolution hash grid encoding (Mueller et al. 2022, "instant-NGP") in pure PyTorch, 2D and 3D.

``L`` levels of resolution ``N_l = floor(N_min * b^l)``; each level stores ``F`` features per grid
vertex. A level whose ``(N_l + 1)^d`` vertices fit in ``T`` entries is dense (vertex ``v`` at
``sum_i (v_i mod (N_l+1)) * (N_l+1)^i``: wrapped, so deformed coordinates that leave [-1, 1] stay
valid and differentiable); finer levels are hashed, ``(XOR_i v_i * pi_i) mod T`` with instant-NGP's
primes. A query is the ``d``-linear interpolation of its cell's ``2^d`` vertices, per level, and the
levels are concatenated: ``(n, d) -> (n, L * F)``.

Why it is written this way (figures: ``docs/methods-da-inr.md``, ``python -m pipelines.benches.hash_grid``):

- All level tables are ONE ``(entries, F)`` parameter with per-level offsets, read with ONE gather
  for all levels and corners (:class:`_Interpolate`), whose backward is a single ``index_add_``.
  Plain indexing per level and corner makes every gather's backward materialise a dense gradient
  of its table (16 levels x 4 corners of them), and autograd's embedding backward sorts the indices:
  both are several times slower on a CPU.
- ``sparse=True`` makes the table's gradient a sparse COO tensor (for ``torch.optim.SparseAdam``);
  ``table_size`` and ``finest_resolution`` size the table to the image instead of the paper's 2^19.
- The interpolation weights are products of the fractional positions, so the encoding is
  differentiable with respect to the coordinates (DA-INR's deformation network trains through it);
  the vertex indices are integer and carry no gradient, as in instant-NGP.

Coordinates are in [-1, 1] (mapped to [0, 1] then scaled by ``N_l``); ``init`` is instant-NGP's
uniform +-1e-4.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

PRIMES = (1, 2654435761, 805459861)  # instant-NGP's spatial hash (Teschner et al. 2003)


def level_resolutions(levels: int, base_resolution: int, growth: float = 2.0,
                      finest_resolution: int | None = None) -> list[int]:
    """``N_l = floor(N_min * b^l)``; with ``finest_resolution`` the growth is eq. 8 of DA-INR:
    ``b = exp((ln N_max - ln N_min) / (L - 1))``."""
    if finest_resolution:
        growth = math.exp((math.log(finest_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
    # The small epsilon keeps exact products (16 * 2.0**3) from flooring one below.
    return [int(math.floor(base_resolution * growth**level + 1e-6)) for level in range(levels)]


class HashGrid(nn.Module):
    """``(n, dims)`` coordinates in [-1, 1] -> ``(n, levels * features)`` (see the module docstring)."""

    # Buffers registered in __init__, declared for the type checker (nn.Module's attributes are untyped).
    res: torch.Tensor
    offsets: torch.Tensor
    level_size: torch.Tensor
    is_dense: torch.Tensor
    strides: torch.Tensor
    primes: torch.Tensor
    corner_bits: torch.Tensor

    def __init__(self, dims: int = 2, levels: int = 16, features: int = 2, base_resolution: int = 16,
                 growth: float = 2.0, table_size: int = 2**19, finest_resolution: int | None = None,
                 sparse: bool = False, init: float = 1e-4):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"hash grid dims must be 2 or 3, got {dims}")
        if levels < 1 or features < 1 or base_resolution < 1 or table_size < 1:
            raise ValueError("hash grid levels, features, base_resolution and table_size must be >= 1")
        self.dims, self.levels, self.features, self.sparse = dims, levels, features, sparse
        self.resolutions = level_resolutions(levels, base_resolution, growth, finest_resolution)
        self.dense = [(res + 1) ** dims <= table_size for res in self.resolutions]
        sizes = [(r + 1) ** dims if d else table_size for r, d in zip(self.resolutions, self.dense, strict=True)]
        offsets = [0]
        for size in sizes[:-1]:
            offsets.append(offsets[-1] + size)
        self.sizes = sizes
        self.table = nn.Parameter(torch.empty(sum(sizes), features).uniform_(-init, init))
        self.out_features = levels * features

        res = torch.tensor(self.resolutions, dtype=torch.int64)
        self.register_buffer("res", res, persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.int64), persistent=False)
        self.register_buffer("level_size", torch.tensor(sizes, dtype=torch.int64), persistent=False)
        self.register_buffer("is_dense", torch.tensor(self.dense), persistent=False)
        # Dense strides (N_l + 1)^i, per level and axis; hash primes per axis.
        strides = torch.stack([(res + 1) ** i for i in range(dims)], dim=-1)  # (L, d)
        self.register_buffer("strides", strides, persistent=False)
        self.register_buffer("primes", torch.tensor(PRIMES[:dims], dtype=torch.int64), persistent=False)
        bits = torch.tensor([[(c >> i) & 1 for i in range(dims)] for c in range(2**dims)], dtype=torch.int64)
        self.register_buffer("corner_bits", bits, persistent=False)  # (2^d, d)

    def vertex_index(self, vertices: torch.Tensor) -> torch.Tensor:
        """Integer vertices ``(..., L, d)`` -> row of the concatenated table ``(..., L)``."""
        wrapped = torch.remainder(vertices, self.res[:, None] + 1)
        dense = (wrapped * self.strides).sum(-1)
        hashed = vertices[..., 0] * self.primes[0]
        for i in range(1, self.dims):
            hashed = torch.bitwise_xor(hashed, vertices[..., i] * self.primes[i])
        hashed = torch.remainder(hashed, self.level_size)
        return torch.where(self.is_dense, dense, hashed) + self.offsets

    def corners(self, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Table rows ``(n, L, 2^d)`` and interpolation weights ``(n, L, 2^d)`` of ``(n, d)`` coordinates.

        Built axis by axis (the two vertices of each axis, then broadcast sums, XORs and products),
        which is 2^(d-1) times less integer arithmetic than hashing every corner's vertex vector.
        Corner ``c`` has axis ``i`` at its upper vertex when bit ``i`` of ``c`` is set.
        """
        n = coords.shape[0]
        pos = (coords[:, None, :] + 1) * 0.5 * self.res[:, None].to(coords.dtype)  # (n, L, d)
        base = torch.floor(pos)
        frac = pos - base  # differentiable with respect to the coordinates
        lower = base.to(torch.int64)
        step = torch.arange(2, device=coords.device)
        dense: Any = None  # set at the first axis
        hashed: Any = None
        weights: Any = None
        for i in range(self.dims):
            v = lower[:, :, i, None] + step  # (n, L, 2): this axis's lower and upper vertex
            d = torch.remainder(v, self.res[:, None] + 1) * self.strides[:, i, None]
            h = v * self.primes[i]
            w = torch.stack([1 - frac[:, :, i], frac[:, :, i]], dim=-1)
            if i == 0:
                dense, hashed, weights = d, h, w
            else:  # new axis = next bit up: (..., 2, 2^i) flattened
                dense = (d[..., :, None] + dense[..., None, :]).reshape(n, self.levels, -1)
                hashed = torch.bitwise_xor(h[..., :, None], hashed[..., None, :]).reshape(n, self.levels, -1)
                weights = (w[..., :, None] * weights[..., None, :]).reshape(n, self.levels, -1)
        hashed = torch.remainder(hashed, self.level_size[:, None])
        idx = torch.where(self.is_dense[:, None], dense, hashed) + self.offsets[:, None]
        return idx, weights

    def forward(self, coords: torch.Tensor, active_levels: int | None = None) -> torch.Tensor:
        """``active_levels`` (coarse-to-fine training): levels from that one on contribute zeros."""
        if coords.shape[-1] != self.dims:
            raise ValueError(f"hash grid expects (..., {self.dims}) coordinates, got {tuple(coords.shape)}")
        lead = coords.shape[:-1]
        idx, weights = self.corners(coords.reshape(-1, self.dims))
        out = _Interpolate.apply(self.table, idx, weights.to(self.table.dtype), self.sparse)  # (n, L, F)
        if active_levels is not None and active_levels < self.levels:
            keep = (torch.arange(self.levels, device=out.device) < active_levels).to(out.dtype)
            out = out * keep[:, None]
        return out.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        dense = sum(self.dense)
        return (f"dims={self.dims}, levels={self.levels}, features={self.features}, "
                f"resolutions={self.resolutions[0]}..{self.resolutions[-1]}, dense_levels={dense}, "
                f"entries={self.table.shape[0]}, sparse={self.sparse}")


class _Interpolate(torch.autograd.Function):
    """``out[n, l] = sum_c w[n, l, c] * table[idx[n, l, c]]`` with a hand-written backward.

    autograd's own backward of an embedding gather (``embedding_dense_backward``) sorts the indices
    and took about 0.1 s per million rows on one CPU thread; ``index_add_`` takes under 0.01 s.
    The gathered rows are read again in the backward rather than kept (3D cines: hundreds of MB).
    """

    @staticmethod
    def forward(ctx, table, idx, weights, sparse):
        rows = table.index_select(0, idx.reshape(-1)).view(*idx.shape, table.shape[1])
        ctx.save_for_backward(table, idx, weights)
        ctx.sparse = sparse
        return (weights[..., None, :] @ rows).squeeze(-2)  # a batched matmul: ~4x a multiply-and-sum on CPU

    @staticmethod
    def backward(ctx, grad_out):
        table, idx, weights = ctx.saved_tensors
        flat = idx.reshape(-1)
        grad_table = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_rows = (weights[..., None] * grad_out[..., None, :]).reshape(-1, table.shape[1])
            if ctx.sparse:
                grad_table = torch.sparse_coo_tensor(flat[None], grad_rows, table.shape, check_invariants=False)
            else:
                grad_table = torch.zeros_like(table).index_add_(0, flat, grad_rows)
        if ctx.needs_input_grad[2]:
            rows = table.index_select(0, flat).view(*idx.shape, table.shape[1])
            grad_weights = (rows @ grad_out[..., :, None]).squeeze(-1)
        return grad_table, None, grad_weights, None
