import math

import torch

from inr_core.nn.complex import BCRNNBlock, ComplexConv2d, ComplexUNet, CRNNBlock, crelu
from inr_core.nn.encoding import GaussianFourierFeatures, NerfEncoding
from inr_core.nn.loss import hdr_loss
from inr_core.nn.wire import WireLayer, gabor_wavelet


def _complex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def test_complex_conv_equals_complex_kernel_convolution():
    torch.manual_seed(0)
    conv = ComplexConv2d(3, 5)
    x = _complex(2, 3, 8, 8)
    w = torch.complex(conv.real.weight, conv.imag.weight)
    b = torch.complex(conv.real.bias - conv.imag.bias, conv.real.bias + conv.imag.bias)
    # Reference: complex arithmetic written out on the four real convolutions.
    def cv(inp, weight):
        return torch.nn.functional.conv2d(inp, weight, padding=1)
    ref = torch.complex(cv(x.real, w.real) - cv(x.imag, w.imag), cv(x.imag, w.real) + cv(x.real, w.imag))
    ref = ref + b[None, :, None, None]
    assert torch.allclose(conv(x), ref, atol=1e-5)
    # Linearity over complex scalars (a real-pair net that is not complex-linear would fail this).
    conv_nobias = conv(2j * x) - conv(torch.zeros_like(x))
    assert torch.allclose(conv_nobias, 2j * (conv(x) - conv(torch.zeros_like(x))), atol=1e-4)


def test_crelu_acts_on_parts():
    z = torch.tensor([1 - 2j, -1 + 3j])
    assert torch.equal(crelu(z), torch.tensor([1 + 0j, 0 + 3j]))


def _changed_frames(block, x, frame):
    y0 = block(x)
    x2 = x.clone()
    x2[frame] += 1.0
    y1 = block(x2)
    return [(y1[t] - y0[t]).abs().max().item() > 1e-7 for t in range(x.shape[0])]


def test_recurrent_block_respects_time_direction():
    torch.manual_seed(0)
    x = _complex(5, 2, 6, 6)
    forward = _changed_frames(CRNNBlock(2, 4), x, frame=2)
    backward = _changed_frames(CRNNBlock(2, 4, reverse=True), x, frame=2)
    both = _changed_frames(BCRNNBlock(2, 4), x, frame=2)
    assert forward == [False, False, True, True, True]
    assert backward == [True, True, True, False, False]
    assert all(both)


def test_unet_shapes():
    torch.manual_seed(0)
    net = ComplexUNet(coils=2, channels=4)
    out, feats = net(_complex(3, 2, 8, 8))
    assert out.shape == (3, 2, 8, 8) and out.is_complex()
    assert len(feats) == 2 and all(f.shape == (3, 4, 8, 8) for f in feats)


def test_hdr_loss_matches_formula_and_detaches_the_weight():
    pred = _complex(10, seed=1).requires_grad_(True)
    target = _complex(10, seed=2)
    eps = 1e-2
    loss = hdr_loss(pred, target, eps)
    expected = torch.mean((pred - target).abs() ** 2 / (pred.abs() + eps) ** 2)
    assert torch.allclose(loss, expected)
    loss.backward()
    # The weight is a constant: d/d(pred*) of w |pred - target|^2 / N is w (pred - target) / N (x2 in torch).
    w = 1 / (pred.detach().abs() + eps) ** 2
    assert torch.allclose(pred.grad, 2 * w * (pred.detach() - target) / 10, atol=1e-6)


def test_wire_activation():
    z = torch.linspace(-0.3, 0.3, 7)
    out = gabor_wavelet(z, omega0=20.0, s0=5.0)
    expected = torch.exp(-(5.0 * z) ** 2) * torch.complex(torch.cos(20 * z), torch.sin(20 * z))
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.isclose(out.abs().max(), torch.tensor(1.0))  # envelope peaks at z = 0
    first, later = WireLayer(3, 8, first=True), WireLayer(8, 4)
    h = later(first(torch.randn(5, 3)))
    assert h.shape == (5, 4) and h.is_complex()


def test_encodings_give_the_paper_input_width():
    nerf = NerfEncoding(dims=2, bands=120, max_freq=80)
    gff = GaussianFourierFeatures(dims=1, features=48, sigma=2.0)
    p = torch.rand(7, 2) * 2 - 1
    t = torch.rand(7, 1) * 2 - 1
    enc = torch.cat([nerf(p), gff(t)], dim=-1)
    assert enc.shape == (7, 576)
    assert torch.isclose(nerf.freqs[0], torch.tensor(1.0)) and torch.isclose(nerf.freqs[-1], torch.tensor(80.0))
    at_zero = nerf(torch.zeros(1, 2))[0]
    assert int((at_zero == 0).sum()) == 240 and int((at_zero == 1).sum()) == 240  # sin(0), cos(0)
    assert math.isclose(float(gff(torch.zeros(1, 1))[0, 48:].mean()), 1.0)  # cos(0) half
