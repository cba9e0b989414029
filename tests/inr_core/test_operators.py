"""One adjointness check shared by every operator and a few composites; plus operator-specific facts."""

from __future__ import annotations

import math

import pytest
import torch
from inr_helpers import gaussian_maps, radial_trajectory

from inr_core.fft import fft2c
from inr_core.operators import (
    FFT2,
    CartesianSampling,
    CoilSensitivity,
    Identity,
    RadialNUFFT,
    TemporalDifference,
    adjointness_error,
    radial_density,
)

T, C, N = 3, 4, 16


def _randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex64, generator=g)


def _mask():
    m = torch.rand(T, N, generator=torch.Generator().manual_seed(3)) < 0.4
    m[:, N // 2] = True
    return m


def _cases():
    from inr_core.data import CartesianCine, RadialCine
    from inr_core.methods.encoding import encoding

    maps = gaussian_maps(N, C)
    traj = radial_trajectory(T, 5, N)
    sense = CoilSensitivity(maps)
    nufft = RadialNUFFT(traj, (N, N))
    image, coil_image, radial = (T, N, N), (T, C, N, N), (T, C, 5, 2 * N)
    return {
        "fft2": (FFT2(), coil_image, coil_image),
        "cartesian-sampling": (CartesianSampling(_mask()), coil_image, coil_image),
        "coil-sensitivity": (sense, image, coil_image),
        "radial-nufft": (nufft, coil_image, radial),
        "temporal-difference-cyclic": (TemporalDifference(cyclic=True), image, image),
        "temporal-difference-open": (TemporalDifference(cyclic=False), image, image),
        "cartesian-sense M@F@S": (CartesianSampling(_mask()) @ FFT2().H @ FFT2() @ sense, image, coil_image),
        "radial-sense N@S": (nufft @ sense, image, radial),
        "gram + scaled identity": (nufft.gram @ sense + 0.5 * sense, image, coil_image),
        "adjoint of composite": ((nufft @ sense).H, radial, image),
        "encoding cartesian": (encoding(CartesianCine(_randn(*coil_image), _mask()), maps)[0], image, coil_image),
        "encoding radial": (encoding(RadialCine(_randn(*radial), traj, (N, N)), maps)[0], image, radial),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_adjointness(name):
    op, in_shape, out_shape = CASES[name]
    assert adjointness_error(op, _randn(*in_shape, seed=1), _randn(*out_shape, seed=2)) < 1e-4


@pytest.mark.parametrize("name", list(CASES))
def test_gram_matches_adjoint_of_forward(name):
    # Every operator's gram (the cheap ones: Toeplitz, masked FFT, sum |s|^2) is A^H A.
    op, in_shape, _ = CASES[name]
    x = _randn(*in_shape, seed=5)
    ref = op.H(op(x))
    assert float((op.gram(x) - ref).norm() / ref.norm()) < 1e-4


def test_adjointness_checks_shapes():
    with pytest.raises(ValueError, match="A x is"):
        adjointness_error(FFT2(), _randn(T, C, N, N), _randn(T, C, N, N + 1))


def test_cheap_grams_match_definition():
    x = _randn(T, C, N, N)
    sampling = CartesianSampling(_mask())
    assert torch.allclose(sampling.gram(x), sampling.H(sampling(x)), atol=1e-5)
    maps = gaussian_maps(N, C)
    y = _randn(T, N, N)
    sense = CoilSensitivity(maps)
    assert torch.allclose(sense.gram(y), sense.H(sense(y)), atol=1e-5)
    assert isinstance(FFT2().gram, Identity)


@pytest.mark.parametrize("shape", [(16, 16), (20, 12)])
@pytest.mark.parametrize("weighted", [False, True])
def test_toeplitz_gram_matches_nufft_pair(shape, weighted):
    traj = radial_trajectory(T, 5, shape[0])
    weights = radial_density(traj) if weighted else None
    op = RadialNUFFT(traj, shape, weights=weights)
    x = _randn(T, C, *shape)
    ref = op.H(op(x))
    assert float((op.gram(x) - ref).norm() / ref.norm()) < 1e-4
    assert adjointness_error(op, x, _randn(T, C, 5, 2 * shape[0], seed=4)) < 1e-4


def test_nufft_matches_fft_on_grid():
    ky, kx = torch.meshgrid(torch.arange(N) - N // 2, torch.arange(N) - N // 2, indexing="ij")
    traj = torch.stack([kx, ky], dim=-1).reshape(1, N, N, 2).float().repeat(T, 1, 1, 1)
    x = _randn(T, C, N, N)
    y = RadialNUFFT(traj, (N, N))(x)
    ref = fft2c(x)
    assert float((y - ref).norm() / ref.norm()) < 1e-3


def test_density_gives_image_scale_for_nyquist_radial():
    n = 32
    spokes = math.ceil(math.pi / 2 * n)
    angles = torch.arange(spokes) * math.pi / spokes
    r = (torch.arange(2 * n) - n) / 2
    traj = torch.stack([r[None] * torch.cos(angles[:, None]), r[None] * torch.sin(angles[:, None])], -1)[None]
    yy, xx = torch.meshgrid(torch.arange(n) - n / 2, torch.arange(n) - n / 2, indexing="ij")
    image = torch.exp(-(xx**2 + yy**2) / 50).to(torch.complex64)[None, None]
    op = RadialNUFFT(traj, (n, n))
    rec = op.H(op(image) * radial_density(traj, (n, n)))
    assert float((rec - image).norm() / image.norm()) < 0.05


def test_temporal_difference_conventions():
    x = torch.arange(4.0).to(torch.complex64)[:, None]
    assert TemporalDifference(cyclic=True)(x).real.flatten().tolist() == [1, 1, 1, -3]
    assert TemporalDifference(cyclic=False)(x).real.flatten().tolist() == [1, 1, 1, 0]


@pytest.mark.parametrize("shape", [(16, 16), (15, 12)])
@pytest.mark.parametrize("trajectory", ["cartesian", "radial"])
def test_buffered_normal_equals_the_composition(shape, trajectory):
    # The encodings' grams run coil by coil through kept buffers (odd sizes too: the folded shifts).
    from inr_core.data import CartesianCine, RadialCine
    from inr_core.methods.encoding import encoding
    from inr_core.operators.normal import CartesianSenseNormal, ToeplitzSenseNormal

    maps = _randn(C, *shape, seed=7)
    maps = maps / maps.abs().pow(2).sum(0).sqrt()
    if trajectory == "cartesian":
        mask = torch.rand(T, shape[0], generator=torch.Generator().manual_seed(3)) < 0.4
        a, _ = encoding(CartesianCine(_randn(T, C, *shape), mask), maps)
        kind = CartesianSenseNormal
    else:
        traj = radial_trajectory(T, 5, shape[0])
        a, _ = encoding(RadialCine(_randn(T, C, 5, 2 * shape[0]), traj, shape), maps)
        kind = ToeplitzSenseNormal
    normal = a.gram
    assert isinstance(normal, kind) and a.gram is normal
    for seed in (1, 2):  # the second call reuses the first's buffers and must not see its values
        x = _randn(T, *shape, seed=seed)
        expected = normal.fallback(x)  # S^H G S composed from the factors
        # float32 rounding only: the sum over coils runs in another order
        torch.testing.assert_close(normal(x), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    x = x.clone().requires_grad_()
    normal(x).abs().sum().backward()  # under autograd it falls back to the composition
    assert x.grad is not None and torch.isfinite(torch.view_as_real(x.grad)).all()


@pytest.mark.parametrize("weighted", [False, True])
def test_nufft_autograd_gradient_is_its_adjoint(weighted):
    # The INRs backpropagate through RadialNUFFT: for L = Re<v, A x>, torch's x.grad must be A^H v
    # (and for L = Re<u, A^H y>, y.grad = A u), else their gradient steps go the wrong way.
    traj = radial_trajectory(T, 5, N)
    op = RadialNUFFT(traj, (N, N), weights=radial_density(traj) if weighted else None)
    x = _randn(T, C, N, N, seed=1).requires_grad_()
    v = _randn(T, C, 5, 2 * N, seed=2)
    torch.vdot(v.flatten(), op(x).flatten()).real.backward()
    expected = op.H(v)
    assert float((x.grad - expected).norm() / expected.norm()) < 1e-5
    y = v.clone().requires_grad_()
    u = _randn(T, C, N, N, seed=3)
    torch.vdot(u.flatten(), op.H(y).flatten()).real.backward()
    expected = op(u)
    assert float((y.grad - expected).norm() / expected.norm()) < 1e-5


def test_nufft_frame_chunks_give_the_same_numbers(monkeypatch):
    # On the CPU RadialNUFFT grids a few frames per call (bounded working memory); frames are independent.
    import inr_core.operators.nufft as nufft_module

    traj = radial_trajectory(T, 5, N)
    op = RadialNUFFT(traj, (N, N), weights=radial_density(traj))
    x, y = _randn(T, C, N, N, seed=1), _randn(T, C, 5, 2 * N, seed=2)
    whole = op(x), op.H(y)
    monkeypatch.setattr(nufft_module, "GRID_BUDGET_BYTES", 1)  # one frame per call (one thread below)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    chunked = op(x), op.H(y)
    # identical here; float32 rounding allowed for another CPU's FFT batching
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * float(a.abs().max()))
