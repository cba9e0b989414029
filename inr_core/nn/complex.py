"""Complex-valued convolutional layers for k-space: complex conv, CReLU, CRNN cells and the KP-INR U-Net.

Tensors are complex64. A complex convolution is a pair of real convolutions,
``(Wr*xr - Wi*xi) + i (Wr*xi + Wi*xr)``, written out so it runs on any backend (complex kernels are
not supported by every convolution backend). Sequences are ``(T, channels, ny, nx)``: the frames are
the time axis of the recurrences, one cine at a time.
"""

from __future__ import annotations

import torch
from torch import nn


class ComplexConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2  # "same" size: KP-INR never downsamples
        self.real = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad)
        self.imag = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xr, xi = x.real, x.imag
        # Biases: each real conv adds its own, so the complex bias is (br - bi) + i (br + bi).
        return torch.complex(self.real(xr) - self.imag(xi), self.real(xi) + self.imag(xr))


def crelu(x: torch.Tensor) -> torch.Tensor:
    """ReLU on the real and imaginary parts separately."""
    return torch.complex(torch.relu(x.real), torch.relu(x.imag))


class CRNNBlock(nn.Module):
    """Convolutional recurrence over frames (Qin et al.): ``h_t = CReLU(Conv(x_t) + Conv(h_{t -/+ 1}))``.

    ``reverse=False`` runs t = 0, 1, ..., T-1 (each output sees only the past); ``reverse=True`` the
    opposite way. ``h`` starts at zero; the cine is not wrapped around.
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3, reverse: bool = False):
        super().__init__()
        self.input_conv = ComplexConv2d(in_channels, hidden, kernel_size)
        self.hidden_conv = ComplexConv2d(hidden, hidden, kernel_size)
        self.hidden = hidden
        self.reverse = reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[0]
        drive = self.input_conv(x)  # all frames at once: the input part has no recurrence
        h = torch.zeros_like(drive[:1])
        out: list = [None] * frames
        order = range(frames - 1, -1, -1) if self.reverse else range(frames)
        for t in order:
            h = crelu(drive[t:t + 1] + self.hidden_conv(h))
            out[t] = h
        return torch.cat(out, dim=0)


class BCRNNBlock(nn.Module):
    """Bidirectional CRNN: a forward and a backward recurrence, summed (as in Qin et al.)."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3):
        super().__init__()
        self.forward_rnn = CRNNBlock(in_channels, hidden, kernel_size, reverse=False)
        self.backward_rnn = CRNNBlock(in_channels, hidden, kernel_size, reverse=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_rnn(x) + self.backward_rnn(x)


class ComplexUNet(nn.Module):
    """KP-INR's k-space auto-encoder: two levels, no downsampling, recurrent blocks at every level.

    in-conv (coils -> F) -> encoder CRNN forward in time (x2 levels) -> bidirectional CRNN bottleneck
    -> decoder levels: concat(skip, below) fused by a complex conv, then a CRNN running *backward* in
    time -> out-conv (F -> coils). Returns the auto-encoded k-space and the decoder features (deepest
    first), from which the K-INR samples its features.
    """

    def __init__(self, coils: int, channels: int = 64, levels: int = 2, kernel_size: int = 3):
        super().__init__()
        self.in_conv = ComplexConv2d(coils, channels, kernel_size)
        self.encoders = nn.ModuleList(CRNNBlock(channels, channels, kernel_size) for _ in range(levels))
        self.bottleneck = BCRNNBlock(channels, channels, kernel_size)
        self.fuse = nn.ModuleList(ComplexConv2d(2 * channels, channels, kernel_size) for _ in range(levels))
        self.decoders = nn.ModuleList(CRNNBlock(channels, channels, kernel_size, reverse=True) for _ in range(levels))
        self.out_conv = ComplexConv2d(channels, coils, kernel_size)

    def forward(self, k: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.in_conv(k)
        skips = []
        for enc in self.encoders:
            h = enc(h)
            skips.append(h)
        h = self.bottleneck(h)
        features = []
        for fuse, dec, skip in zip(self.fuse, self.decoders, reversed(skips), strict=True):
            h = dec(fuse(torch.cat([h, skip], dim=1)))
            features.append(h)
        return self.out_conv(h), features
