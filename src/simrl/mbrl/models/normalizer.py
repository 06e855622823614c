"""Standardisation with statistics fitted on data, kept as buffers so they travel with ``state_dict``."""

from __future__ import annotations

import torch
from torch import nn

STD_FLOOR = 1e-6  # a column that barely varies (a constant action, a fixed joint) is only centred


class Normalizer(nn.Module):
    """``(x - mean) / std`` per column; starts as the identity (mean 0, std 1)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> None:
        """Set the statistics to those of ``data`` ``[N, dim]`` (population std; below ``STD_FLOOR``: 1)."""
        std = data.std(dim=0, correction=0)
        self.mean.copy_(data.mean(dim=0))
        self.std.copy_(torch.where(std < STD_FLOOR, torch.ones_like(std), std))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
