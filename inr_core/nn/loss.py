"""Losses of the k-space INRs."""

from __future__ import annotations

import torch


def hdr_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """NIK's high-dynamic-range loss ``mean(|pred - target|^2 / (|pred|.detach() + eps)^2)``.

    Normalising by the (detached) predicted magnitude weights the weak outer k-space like the strong
    centre; ``eps`` is on the scale of k-space normalised to max |k| = 1.
    """
    return ((pred - target).abs() ** 2 / (pred.detach().abs() + eps) ** 2).mean()
