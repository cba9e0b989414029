"""What every registered method promises, checked over the registry (a new method file is covered
without editing this test), and the classical methods' images unchanged by the move to method objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from inr_core.data import CartesianCine, RadialCine
from inr_core.fft import fft2c
from inr_core.methods import build, get_method, list_methods
from inr_core.phantom import cardiac_phantom
from inr_core.sampling import kt_uniform
from inr_core.simulate import cardiac_array

# Few iterations / steps wherever a method has them: the contract is about the interface, not quality.
TINY = {"iterations": 2, "steps": 3, "epochs": 3, "refresh_every": 2, "batch_points": 256, "chunk": 4096}
REFERENCE = Path(__file__).parent / "data" / "methods_before_objects.npz"


def _builtin():
    # Only the product's methods: the gadget tests register stand-ins (one of them never ends).
    return [m for m in list_methods() if m.__module__.startswith("inr_core.methods")]


def _tiny_config(method):
    fields = {f.name for f in dataclasses.fields(method.Config)}
    preset = "fast" if "fast" in method.presets else None
    return method.make_config(preset, **{k: v for k, v in TINY.items() if k in fields})


def _data(trajectory, frames=None):
    ref = np.load(REFERENCE)
    t = slice(None) if frames is None else slice(0, frames)
    get = lambda key: torch.from_numpy(ref[key][t])  # noqa: E731
    maps = torch.from_numpy(ref["maps"])
    if trajectory == "cartesian":
        return CartesianCine(kspace=get("cartesian_kspace"), mask=get("mask")), maps
    return RadialCine(kspace=get("radial_kspace"), trajectory_k=get("trajectory"), image_shape=maps.shape[-2:]), maps


def _cartesian(n: int):
    # Built here, not from conftest: pytest resolves a lazy `conftest` import to another folder's.
    images = torch.as_tensor(cardiac_phantom(n, 4, seed=0)).to(torch.complex64)
    maps = cardiac_array(4, (n, n), seed=0).to(torch.complex64)
    mask = torch.from_numpy(kt_uniform(n, 4, 4, acs_lines=max(4, n // 12)))
    return CartesianCine(kspace=fft2c(images[:, None] * maps) * mask[:, None, :, None], mask=mask), maps


CASES = [(m.name, traj) for m in _builtin() for traj in m.trajectories]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, trajectory", CASES)
def test_method_contract(name, trajectory):
    cls = get_method(name)
    method = cls(_tiny_config(cls), "cpu")
    data, maps = _data(trajectory)
    smallest = getattr(method, "matrix_range", (0, 0))[0]  # a trained method refuses matrices it never saw
    if smallest > data.image_shape[0]:
        data, maps = _cartesian(smallest)
    calls = []
    images = method(data, maps, lambda done, total, message: calls.append((done, total, message)))
    assert tuple(images.shape) == tuple(method.output_shape(data))
    assert images.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(images)).all()
    assert float(images.abs().max()) > 0
    assert calls and calls[-1][0] == calls[-1][1], "progress must be called, ending at done == total"


@pytest.mark.parametrize("name", [m.name for m in _builtin()])
def test_presets_build_and_refusals(name):
    cls = get_method(name)
    assert cls.summary(), f"{name}: the class docstring's first line is its summary"
    assert dataclasses.is_dataclass(cls.Config)
    for preset in ["default", *cls.presets]:
        cls(cls.make_config(preset), "cpu")
    for other in {"cartesian", "radial"} - set(cls.trajectories):
        data, maps = _data(other)
        with pytest.raises(ValueError, match=f"does not support {other}"):
            cls(_tiny_config(cls))(data, maps)
    if cls.min_frames > 1:
        data, maps = _data(cls.trajectories[0], frames=1)
        with pytest.raises(ValueError, match="single-frame scans use"):
            cls(_tiny_config(cls))(data, maps)
    data, maps = _data(cls.trajectories[0])
    with pytest.raises(ValueError, match="coil-count mismatch"):
        cls(_tiny_config(cls))(data, maps[:-1])


def test_build_keeps_one_instance_per_configuration():
    config, same = (get_method("cg-sense").make_config(iterations=3) for _ in range(2))
    assert build("cg-sense", config, "cpu") is build("cg-sense", same, "cpu")
    assert build("cg-sense", config, "cpu") is not build("cg-sense", None, "cpu")
    with pytest.raises(TypeError, match="takes a CGSenseConfig"):
        get_method("cg-sense")(get_method("grasp").make_config())


@pytest.mark.parametrize("key", sorted(k for k in np.load(REFERENCE).files if "/" in k))
def test_images_unchanged_by_method_objects(key):
    # Made with the function registry (commit 27d5ce5), fast presets, on the inputs stored beside them.
    name, trajectory = key.split("/")
    cls = get_method(name)
    data, maps = _data(trajectory)
    images = cls(cls.make_config("fast" if "fast" in cls.presets else None))(data, maps)
    expected = torch.from_numpy(np.load(REFERENCE)[key])
    torch.testing.assert_close(images, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
