"""The hash grid against a per-point, per-level, per-corner reference written from the definition."""

from __future__ import annotations

import math

import pytest
import torch

from inr_core.nn.hash_grid import PRIMES, HashGrid, level_resolutions


def reference(grid: HashGrid, coords: torch.Tensor) -> torch.Tensor:
    """instant-NGP's encoding, one point, level and corner at a time, with Python integers."""
    table = grid.table.detach().double()
    out = torch.zeros(len(coords), grid.levels * grid.features, dtype=torch.float64)
    offset = 0
    for level, (res, dense, size) in enumerate(zip(grid.resolutions, grid.dense, grid.sizes, strict=True)):
        for n, point in enumerate(coords.tolist()):
            pos = [(p + 1) / 2 * res for p in point]
            lower = [math.floor(p) for p in pos]
            frac = [p - f for p, f in zip(pos, lower, strict=True)]
            for corner in range(2**grid.dims):
                vertex = [lower[i] + ((corner >> i) & 1) for i in range(grid.dims)]
                weight = math.prod(frac[i] if (corner >> i) & 1 else 1 - frac[i] for i in range(grid.dims))
                if dense:
                    row = sum((v % (res + 1)) * (res + 1) ** i for i, v in enumerate(vertex))
                else:
                    h = 0
                    for v, p in zip(vertex, PRIMES[:grid.dims], strict=True):
                        h ^= v * p
                    row = h % size
                out[n, level * grid.features:(level + 1) * grid.features] += weight * table[offset + row]
        offset += size
    return out


@pytest.mark.parametrize("dims", [2, 3])
def test_matches_brute_force_reference(dims):
    torch.manual_seed(0)
    grid = HashGrid(dims, levels=6, features=2, base_resolution=3, growth=1.7, table_size=2**9, init=1.0)
    assert any(grid.dense) and not all(grid.dense)  # both kinds of level are exercised
    coords = torch.rand(40, dims) * 2.4 - 1.2  # some outside [-1, 1]: deformed coordinates may leave the FOV
    got = grid(coords.double().float())
    assert got.shape == (40, 12)
    torch.testing.assert_close(got.double(), reference(grid, coords), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dims", [2, 3])
def test_gradients_wrt_coordinates_and_table(dims):
    torch.manual_seed(1)
    grid = HashGrid(dims, levels=3, features=2, base_resolution=2, growth=2.0, table_size=16, init=1.0).double()
    # Away from cell boundaries, where the encoding is smooth (it is only piecewise multilinear).
    coords = (torch.rand(5, dims, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c, t: _with_table(grid, t, c), (coords, grid.table.detach().clone()
                                                                         .requires_grad_(True)), eps=1e-6, atol=1e-6)


def _with_table(grid: HashGrid, table: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    saved = grid.table
    try:
        del grid.table
        grid.table = table
        return grid(coords)
    finally:
        del grid.table
        grid.table = saved


def test_sparse_gradient_equals_dense():
    torch.manual_seed(2)
    dense = HashGrid(2, levels=4, base_resolution=4, table_size=64, init=1.0)
    sparse = HashGrid(2, levels=4, base_resolution=4, table_size=64, init=1.0, sparse=True)
    sparse.load_state_dict(dense.state_dict())
    coords = torch.rand(50, 2) * 2 - 1
    w = torch.randn(8)
    (dense(coords) @ w).sum().backward()
    (sparse(coords) @ w).sum().backward()
    assert sparse.table.grad.is_sparse
    torch.testing.assert_close(sparse.table.grad.to_dense(), dense.table.grad)


def test_hash_collisions_share_an_entry():
    # A hashed level with a 4-entry table: many vertices share rows, and points whose corners all
    # collide onto the same rows read the same features, exactly as the hash function says.
    grid = HashGrid(2, levels=1, features=1, base_resolution=64, table_size=4, init=1.0)
    assert grid.dense == [False]
    coords = torch.rand(200, 2) * 2 - 1
    idx, weights = grid.corners(coords)
    assert idx.min() >= 0 and idx.max() < 4 and len(idx.unique()) == 4  # 200 points x 4 corners on 4 rows
    torch.testing.assert_close(weights.sum(-1), torch.ones(200, 1))
    with torch.no_grad():
        grid.table.fill_(2.5)  # every row the same: interpolation returns it whatever collides
    torch.testing.assert_close(grid(coords), torch.full((200, 1), 2.5))


def test_dense_levels_are_exact_grids_and_wrap():
    grid = HashGrid(2, levels=1, features=1, base_resolution=4, table_size=25, init=1.0)
    assert grid.dense == [True] and grid.sizes == [25]
    # Vertex (i, j) sits at coordinate 2 * (i, j) / 4 - 1 and reads row i + 5 j.
    with torch.no_grad():
        grid.table.copy_(torch.arange(25.0)[:, None])
    vertices = torch.tensor([[0.0, 0.0], [2.0, 1.0], [4.0, 4.0]])
    torch.testing.assert_close(grid(vertices / 2 - 1)[:, 0], torch.tensor([0.0, 7.0, 24.0]))
    # One cell past the edge wraps to the first vertex column instead of failing.
    assert torch.isfinite(grid(torch.tensor([[1.6, 0.0]]))).all()


def test_shapes_levels_and_masking():
    grid = HashGrid(3, levels=5, features=3, base_resolution=4, growth=1.5, table_size=2**10)
    out = grid(torch.zeros(2, 7, 3))
    assert out.shape == (2, 7, 15) and grid.out_features == 15
    masked = grid(torch.rand(10, 3), active_levels=2).view(10, 5, 3)
    assert masked[:, 2:].abs().max() == 0 and masked[:, :2].abs().max() > 0
    assert level_resolutions(16, 16, 2.0)[-1] == 16 * 2**15
    assert level_resolutions(4, 16, finest_resolution=128) == [16, 32, 64, 128]
    with pytest.raises(ValueError, match="dims must be 2 or 3"):
        HashGrid(4)
    with pytest.raises(ValueError, match=r"expects \(\.\.\., 2\)"):
        HashGrid(2)(torch.zeros(3, 3))
