"""bench hash-grid compares like with like: the slow reference computes the same encoding."""

from __future__ import annotations

import torch

from pipelines.benches.hash_grid import OPTIONS, IndexingGrid, markdown, measure


def test_indexing_reference_equals_the_hash_grid():
    for dims in (2, 3):
        ref = IndexingGrid(dims, levels=5, base_resolution=3, growth=1.8, table_size=2**8)
        with torch.no_grad():
            for table in ref.tables:
                table.uniform_(-1, 1)
            ref.grid.table.copy_(torch.cat(list(ref.tables)))
        coords = torch.rand(64, dims) * 2.2 - 1.1
        torch.testing.assert_close(ref(coords), ref.grid(coords))


def test_measure_reports_a_step_time():
    row = measure("gather-fine4x-t14", 2, repeats=1)
    assert row["points"] == 128 * 128 and row["finest"] == 512 and row["seconds"] > 0
    assert row["entries"] < 2**18 and "gather-fine4x-t14" in markdown([row])
    assert set(OPTIONS) >= {"indexing", "gather", "sparse"}
