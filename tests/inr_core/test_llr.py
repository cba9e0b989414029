"""The locally-low-rank method: its block proximal map, and reconstructions that beat the baselines."""

import pytest
import torch

from inr_core.methods import get_method
from inr_core.methods.llr import block_svt, largest_block_singular_value
from inr_core.metrics import score


def _random_series(frames=6, n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(frames, n, n, dtype=torch.complex64, generator=g)


@pytest.mark.parametrize("shift", [(0, 0), (3, 5)])
def test_block_svt_with_zero_threshold_is_the_identity(shift):
    x = _random_series()  # 20 is not a multiple of the block: padded blocks must come back cropped
    torch.testing.assert_close(block_svt(x, 0.0, 8, shift), x, atol=1e-5, rtol=1e-5)


def test_block_svt_soft_thresholds_each_blocks_singular_values():
    x = _random_series(n=16)
    assert block_svt(x, 1.01 * largest_block_singular_value(x, 8), 8).abs().max() == 0
    casorati = lambda v: v[:, 8:, :8].reshape(6, -1).T  # noqa: E731 - the (pixels, frames) block matrix
    s = torch.linalg.svdvals(casorati(x))
    shrunk = torch.linalg.svdvals(casorati(block_svt(x, float(s[2]), 8)))
    torch.testing.assert_close(shrunk[:2], s[:2] - s[2], atol=1e-4, rtol=1e-4)
    assert shrunk[2:].max() < 1e-4


def test_a_rank_one_series_passes_a_small_threshold_almost_unchanged():
    # Static anatomy times a global temporal signal: rank one in every block, what LLR keeps.
    g = torch.Generator().manual_seed(1)
    image = torch.randn(16, 16, dtype=torch.complex64, generator=g)
    signal = torch.linspace(1, 2, 6).to(torch.complex64)
    x = signal[:, None, None] * image
    out = block_svt(x, 0.01 * largest_block_singular_value(x, 8), 8, (2, 3))
    assert (out - x).norm() / x.norm() < 0.05


@pytest.mark.parametrize("kind", ["cartesian", "radial"])
def test_llr_beats_zero_filled_and_l_plus_s(kind, cartesian, radial, maps, truth):
    data = cartesian if kind == "cartesian" else radial
    psnr = {name: score(get_method(name)()(data, maps), truth, "kp-inr")["summary"]["psnr_mean"]
            for name in ("zero-filled", "l-plus-s", "llr")}
    # Measured with the defaults: Cartesian zero-filled 24.3, L+S 34.2, LLR 36.7 dB; radial 20.3, 27.6, 31.8.
    assert psnr["llr"] > psnr["zero-filled"] + 8 and psnr["llr"] > psnr["l-plus-s"] + 1, psnr


def test_llr_is_reproducible_and_takes_its_options(cartesian, maps):
    spec = get_method("llr")
    cfg = spec.make_config("fast", lam="0.05", block="4")
    assert cfg.iterations == 15 and cfg.lam == 0.05 and cfg.block == 4
    # The block shifts are random but seeded: two runs give the same images.
    torch.testing.assert_close(spec(cfg)(cartesian, maps), spec(cfg)(cartesian, maps))
