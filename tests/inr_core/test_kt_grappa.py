import pytest
import torch

from inr_core.data import CartesianCine
from inr_core.fft import fft2c
from inr_core.methods import get_method
from inr_core.methods.kt_grappa import KtGrappaConfig, _acquired, _calibration, _offsets, fill_kspace
from inr_core.metrics import score
from inr_core.sampling import kt_gaussian, kt_uniform


def _kt_uniform_data(truth, maps, r=4):
    mask = torch.from_numpy(kt_uniform(truth.shape[-2], truth.shape[0], r, acs_lines=8))
    return CartesianCine(kspace=fft2c(truth[:, None] * maps) * mask[:, None, :, None], mask=mask)


def _kt_gaussian_data(truth, maps, r=4):
    mask = torch.from_numpy(kt_gaussian(truth.shape[-2], truth.shape[0], r, acs_lines=8, seed=3))
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


def _explicit_line(data, cfg, t, y):
    """Line ``(t, y)`` filled the textbook way: this layout's calibration matrix written out column by
    column (one column block per acquired neighbour, identical ones included), the ridge solution by
    least squares on ``[A; sqrt(reg) I]`` in double precision, applied to the neighbours."""
    k = data.kspace.to(torch.complex128)
    calib, known = _calibration(data, cfg)
    calib = calib.to(torch.complex128)
    frames, coils, ny, nx = k.shape
    tc, w = calib.shape[0], 2 * cfg.dx + 1
    layout = [o for o, on in zip(_offsets(cfg), _acquired(data.mask, _offsets(cfg))[:, t, y], strict=True) if on]
    lines = [c for c in range(ny) if known[c] and all(0 <= c + dy < ny and known[c + dy] for _, dy in layout)]

    def sources(kspace, frame, line, count):
        pad = torch.nn.functional.pad(kspace[(frame + torch.tensor([dt for dt, _ in layout])) % count, :,
                                             line + torch.tensor([dy for _, dy in layout]), :], (cfg.dx, cfg.dx))
        return torch.stack([pad[..., s:s + nx] for s in range(w)], -1).permute(2, 0, 1, 3).reshape(nx, -1)

    a = torch.cat([sources(calib, f, c, tc) for f in range(tc) for c in lines])
    b = torch.cat([calib[f, :, c, :].T for f in range(tc) for c in lines])
    reg = cfg.lam * (a.abs() ** 2).sum()
    augmented = torch.cat([a, reg.sqrt() * torch.eye(a.shape[1], dtype=a.dtype)])
    weights = torch.linalg.lstsq(augmented, torch.cat([b, torch.zeros(a.shape[1], coils, dtype=b.dtype)])).solution
    return (sources(k, t, y, frames) @ weights).T  # (C, nx)


@pytest.mark.parametrize("calibration", ["time-averaged", "kt"])
def test_kt_grappa_kernels_are_the_per_layout_ridge_solutions(truth, maps, calibration):
    # The method solves identical calibration columns as one block and shares normal equations
    # between layouts; every filled line must still be its own layout's regularised least squares.
    data = _kt_gaussian_data(truth, maps)
    cfg = KtGrappaConfig(calibration=calibration)
    filled = fill_kspace(data, cfg)
    missing = (~data.mask & _acquired(data.mask, _offsets(cfg)).any(0)).nonzero().tolist()
    torch.manual_seed(0)
    for t, y in [missing[i] for i in torch.randperm(len(missing))[:6].tolist()]:
        want = _explicit_line(data, cfg, t, y)
        got = filled[t, :, y, :].to(torch.complex128)
        # float32 data and application against a double-precision reference: ~1e-6 of the line's size
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))

