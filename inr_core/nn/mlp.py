"""Plain multilayer perceptrons: ReLU (DA-INR, HashINR) and leaky ReLU (KP-INR's K-INR branch)."""

from __future__ import annotations

from torch import nn


def mlp(inputs: int, width: int, layers: int, outputs: int, bias: bool = True) -> nn.Sequential:
    """``layers`` hidden ReLU layers of ``width``, then a linear output."""
    mods: list[nn.Module] = []
    last = inputs
    for _ in range(max(layers, 1)):
        mods += [nn.Linear(last, width, bias=bias), nn.ReLU()]
        last = width
    mods.append(nn.Linear(last, outputs, bias=bias))
    return nn.Sequential(*mods)


def leaky_mlp(sizes: list[int], slope: float, last_act: bool = True) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]``, each followed by a leaky ReLU (the last only if ``last_act``)."""
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        mods.append(nn.Linear(a, b))
        if last_act or i < len(sizes) - 2:
            mods.append(nn.LeakyReLU(slope))
    return nn.Sequential(*mods)
