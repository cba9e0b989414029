import pytest
import torch

from inr_core.methods import get_method, list_methods
from inr_core.metrics import score

FEW = {"zero-filled": {}, "cg-sense": {"iterations": 5}, "l-plus-s": {"iterations": 10},
       "grasp": {"iterations": 15}}


def test_builtin_methods_registered():
    names = {spec.name for spec in list_methods()}
    assert set(FEW) <= names


@pytest.mark.parametrize("name", list(FEW))
@pytest.mark.parametrize("kind", ["cartesian", "radial"])
def test_method_runs_and_returns_complex_series(name, kind, cartesian, radial, maps, truth):
    data = cartesian if kind == "cartesian" else radial
    spec = get_method(name)
    calls = []
    images = spec(spec.make_config(**FEW[name]))(data, maps, lambda d, t, m: calls.append((d, t)))
    assert images.shape == truth.shape and images.is_complex() and images.dtype == torch.complex64
    assert torch.isfinite(images).all()
    assert calls and calls[-1][0] <= calls[-1][1]


@pytest.mark.parametrize("kind", ["cartesian", "radial"])
def test_iterative_methods_beat_zero_filled(kind, cartesian, radial, maps, truth):
    data = cartesian if kind == "cartesian" else radial
    psnr = {name: score(get_method(name)()(data, maps), truth, "kp-inr")["summary"]["psnr_mean"]
            for name in FEW}
    for name in ("cg-sense", "l-plus-s", "grasp"):
        assert psnr[name] > psnr["zero-filled"] + 0.5, psnr


def test_config_from_strings_and_presets():
    spec = get_method("l-plus-s")
    cfg = spec.make_config("fast", lambda_l="0.05", tol="0")
    assert cfg.iterations == 20 and cfg.lambda_l == 0.05 and cfg.tol == 0.0
    assert get_method("grasp").make_config(cyclic="false").cyclic is False
    assert get_method("cg-sense").make_config(iterations="7").iterations == 7


def test_unknown_option_method_and_value():
    with pytest.raises(ValueError, match="no option"):
        get_method("grasp").make_config(bogus="1")
    with pytest.raises(ValueError, match="unknown method"):
        get_method("no-such-method")
    with pytest.raises(ValueError, match="invalid value"):
        get_method("cg-sense").make_config(iterations="ten")
    with pytest.raises(ValueError, match="no preset"):
        get_method("cg-sense").make_config("nonexistent")


@pytest.mark.parametrize("option", ["lam=nan", "lam=inf", "iterations=-5", "tol=-1e-3"])
def test_numeric_options_must_be_finite_and_non_negative(option):
    key, value = option.split("=")
    with pytest.raises(ValueError, match=f"invalid value '{value}' for cg-sense.{key}.*finite number >= 0"):
        get_method("cg-sense").make_config(None, **{key: value})
