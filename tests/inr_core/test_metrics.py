import numpy as np
import pytest
import torch

from inr_core.metrics import prepare, score


def _series(seed=0, shape=(3, 16, 12)):
    return np.random.default_rng(seed).random(shape) + 0.1


def test_identical_images_give_inf_psnr_and_unit_ssim():
    x = _series()
    for protocol in ("kp-inr", "da-inr"):
        out = score(x, x, protocol)
        assert np.isinf(out["psnr"]).all()
        assert np.allclose(out["ssim"], 1.0)
        assert np.allclose(out["nrmse"], 0.0)
        assert out["summary"]["frames"] == 3 and out["summary"]["protocol"] == protocol


def test_kp_inr_crops_central_half_rows_and_uses_reference_max():
    ref = _series()
    rec = 2 * ref
    r, g = prepare(rec, ref, "kp-inr")
    assert r.shape == (3, 8, 12)
    assert np.isclose(g.max(), 1.0)  # reference max over the cropped series
    assert np.isclose(r.max(), 2.0)  # the recon keeps its own scale relative to the reference
    assert score(rec, ref, "kp-inr")["summary"]["psnr_mean"] < 20


def test_da_inr_is_scale_invariant_and_full_image():
    ref = _series()
    r, g = prepare(3 * ref * np.exp(1j), ref, "da-inr")
    assert r.shape == ref.shape and np.isclose(r.min(), 0) and np.isclose(r.max(), 1)
    assert (score(torch.from_numpy(3 * ref), ref, "da-inr")["psnr"] > 100).all()


def test_noise_lowers_psnr_and_unknown_protocol():
    ref = _series()
    noisy = ref + 0.05 * np.random.default_rng(1).normal(size=ref.shape)
    out = score(noisy, ref, "kp-inr")
    assert 15 < out["summary"]["psnr_mean"] < 40 and out["summary"]["ssim_mean"] < 1
    with pytest.raises(ValueError, match="unknown metrics protocol"):
        score(ref, ref, "fastmri")
