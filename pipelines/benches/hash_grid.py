"""``gadgetron-inr bench hash-grid``: forward + backward + optimiser step of the hash grid encodings.

One step of each implementation option of :mod:`inr_core.nn.hash_grid` on 128x128 random points in
2D (one DA-INR frame) and 128x128x23 points in 3D (a whole HashINR cine), with 16 levels and 2
features (the DA-INR paper's encoding). The loss is a fixed random projection of the encoding, so
every level and corner receives a gradient, and the coordinates require a gradient (DA-INR's
deformation network trains through the grid). Each option reports the median seconds per step
over ``repeats`` steps after one warm-up step, and the table's entry count.

Options (``OPTIONS``):

- ``indexing``: one table per level, read with plain tensor indexing per corner (what the issue
  measured first): every gather's backward writes a dense gradient of its level table.
- ``gather``: :class:`~inr_core.nn.hash_grid.HashGrid`, one concatenated table, one
  ``F.embedding`` gather, dense gradient, AdamW (the fit loop's optimiser).
- ``sparse``: the same gather with ``sparse=True`` and ``torch.optim.SparseAdam``.
- ``*-t16``, ``*-fine4x``: smaller tables: ``T = 2^16``, or the finest level at 4x the matrix.

Run ``gadgetron-inr bench hash-grid`` (or ``python -m pipelines.benches.hash_grid``); figures and
the choice made from them are in ``docs/methods-da-inr.md``. Take them with ``OMP_NUM_THREADS=1``
on a shared machine: the options are compared with each other, not with another machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from inr_core.nn.hash_grid import HashGrid, level_resolutions

MATRIX, FRAMES = 128, 23

# name -> (implementation, HashGrid keyword arguments)
OPTIONS = {
    "indexing": ("indexing", {}),
    "gather": ("gather", {}),
    "sparse": ("sparse", {}),
    "gather-t16": ("gather", {"table_size": 2**16}),
    "sparse-t16": ("sparse", {"table_size": 2**16}),
    "gather-fine4x-t16": ("gather", {"table_size": 2**16, "finest_resolution": 4 * MATRIX}),
    "gather-fine4x-t14": ("gather", {"table_size": 2**14, "finest_resolution": 4 * MATRIX}),
}


class IndexingGrid(nn.Module):
    """The slow reference: a parameter per level, ``table[idx]`` per corner (same maths as HashGrid)."""

    def __init__(self, dims: int, **kwargs):
        super().__init__()
        self.grid = HashGrid(dims, **kwargs)  # for its index arithmetic only
        self.tables = nn.ParameterList([nn.Parameter(torch.empty(size, self.grid.features).uniform_(-1e-4, 1e-4))
                                        for size in self.grid.sizes])
        self.grid.table.requires_grad_(False)

    def forward(self, coords):
        g = self.grid
        pos = (coords[:, None, :] + 1) * 0.5 * g.res[:, None].to(coords.dtype)
        base = torch.floor(pos)
        frac = pos - base
        base = base.to(torch.int64)
        out = []
        for level, table in enumerate(self.tables):
            acc = 0
            for c in range(2**g.dims):
                bits = g.corner_bits[c]
                idx = g.vertex_index(base + bits)[:, level] - g.offsets[level]
                w = (frac[:, level] * bits + (1 - frac[:, level]) * (1 - bits)).prod(-1)
                acc = acc + table[idx] * w[:, None]
            out.append(acc)
        return torch.cat(out, dim=-1)


def build(option: str, dims: int):
    kind, kwargs = OPTIONS[option]
    if kind == "indexing":
        grid = IndexingGrid(dims, **kwargs)
        opt = torch.optim.AdamW(list(grid.tables.parameters()), lr=1e-3)
    elif kind == "gather":
        grid = HashGrid(dims, **kwargs)
        opt = torch.optim.AdamW(grid.parameters(), lr=1e-3)
    else:
        grid = HashGrid(dims, sparse=True, **kwargs)
        opt = torch.optim.SparseAdam(grid.parameters(), lr=1e-3)
    return grid, opt


def measure(option: str, dims: int, repeats: int = 3, device: str = "cpu") -> dict:
    """Median seconds of one forward + backward + optimiser step, and what was stepped."""
    g = torch.Generator().manual_seed(0)
    points = MATRIX * MATRIX * (FRAMES if dims == 3 else 1)
    coords = (torch.rand(points, dims, generator=g) * 2 - 1).to(device).requires_grad_(True)
    grid, opt = build(option, dims)
    grid.to(device)
    entries = sum(p.numel() for p in grid.parameters() if p.requires_grad) // 2
    proj = torch.randn(32, generator=g).to(device)
    times = []
    for _ in range(repeats + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = (grid(coords) @ proj).square().mean()
        opt.zero_grad(set_to_none=True)
        coords.grad = None
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    kwargs = OPTIONS[option][1]
    res = level_resolutions(16, 16, 2.0, kwargs.get("finest_resolution"))
    return {"option": option, "dims": dims, "points": points, "entries": entries,
            "finest": res[-1], "seconds": statistics.median(times[1:]), "device": device,
            "threads": torch.get_num_threads()}


def markdown(rows: list[dict]) -> str:
    lines = ["| option | dims | points | table entries | finest level | s / step |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['option']} | {r['dims']}D | {r['points']} | {r['entries']} | {r['finest']} | "
                     f"{r['seconds']:.3f} |")
    return "\n".join(lines)


def run_hash_grid(args) -> int:
    device = "cuda" if getattr(args, "device", "cpu") == "cuda" else "cpu"
    options = getattr(args, "options", None) or list(OPTIONS)
    rows = []
    for dims in (2, 3):
        for option in options:
            if dims == 3 and option == "indexing":
                continue  # tens of seconds per step at 377k points: the 2D row already shows why not
            rows.append(measure(option, dims, repeats=getattr(args, "repeats", 3), device=device))
            sys.stderr.write(f"{rows[-1]}\n")
    out_dir = Path(getattr(args, "out_dir", "out/bench"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hash_grid.json").write_text(json.dumps(rows, indent=2))
    sys.stdout.write(markdown(rows) + "\n")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", nargs="+", choices=tuple(OPTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out-dir", default="out/bench")
    sys.exit(run_hash_grid(parser.parse_args()))
