import torch

from inr_core.fft import fft1c, fft2c, ifft1c, ifft2c


def test_orthonormal_and_inverse():
    x = torch.randn(3, 8, 10, dtype=torch.complex64)
    k = fft2c(x)
    assert torch.allclose(k.norm(), x.norm(), rtol=1e-5)
    assert torch.allclose(ifft2c(k), x, atol=1e-5)
    assert torch.allclose(ifft1c(fft1c(x, dim=0), dim=0), x, atol=1e-5)


def test_dc_at_centre():
    for shape in [(8, 10), (7, 9)]:
        x = torch.ones(shape, dtype=torch.complex64)
        k = fft2c(x)
        peak = divmod(int(k.abs().argmax()), shape[1])
        assert peak == (shape[0] // 2, shape[1] // 2)
        assert torch.isclose(k.abs().max(), torch.tensor(float(shape[0] * shape[1]) ** 0.5))
