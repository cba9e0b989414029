import torch

from inr_core.data import CartesianCine
from inr_core.methods import get_method
from inr_core.methods.kt_grappa import KtGrappaConfig, fill_kspace
from inr_core.metrics import score
from inr_core.sampling import kt_uniform


def _kt_uniform_data(truth, maps, r=4):
    from inr_core.fft import fft2c

    mask = torch.from_numpy(kt_uniform(truth.shape[-2], truth.shape[0], r, acs_lines=8))
    return CartesianCine(kspace=fft2c(truth[:, None] * maps) * mask[:, None, :, None], mask=mask)


def test_kt_grappa_beats_zero_filled_on_kt_uniform_r4(truth, maps):
    data = _kt_uniform_data(truth, maps)
    psnr = {name: score(get_method(name)()(data, maps), truth)["summary"]["psnr_mean"]
            for name in ("zero-filled", "kt-grappa")}
    assert psnr["kt-grappa"] > psnr["zero-filled"] + 3, psnr


def test_kt_grappa_keeps_acquired_samples(truth, maps):
    data = _kt_uniform_data(truth, maps)
    filled = fill_kspace(data, KtGrappaConfig())
    acquired = data.sampling.expand_as(data.kspace)
    assert torch.equal(filled[acquired], data.kspace[acquired])
    assert filled[~acquired].abs().sum() > 0


def test_kt_grappa_per_frame_calibration_runs(truth, maps):
    data = _kt_uniform_data(truth, maps)
    spec = get_method("kt-grappa")
    images = spec(spec.make_config(calibration="kt"))(data, maps)
    assert images.shape == truth.shape and torch.isfinite(images).all()
