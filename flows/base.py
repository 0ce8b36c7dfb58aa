"""The abstract normalizing flow: an invertible map with a tractable log-determinant.

Concrete flows live beside it in :mod:`patchflow.flows`; :mod:`patchflow.flow` names it among the contracts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class Flow(nn.Module, ABC):
    """An invertible, differentiable map ``y = f(x)`` on ``R^dim`` (optionally conditioned on a context).

    Both directions return the transformed batch and ``log |det J|`` of *that* direction, per sample:
    ``forward(x) -> (y, log|det df/dx|)`` and ``inverse(y) -> (x, log|det df^-1/dy|)``, so
    ``inverse(forward(x)[0])[0] == x`` and the two log-determinants sum to zero.

    Attributes:
        dim: Dimension of the samples.
        context_dim: Dimension of the conditioning vector, 0 for unconditional flows.
    """

    def __init__(self, dim: int, context_dim: int = 0) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.context_dim = int(context_dim)

    @abstractmethod
    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``x`` of shape ``(B, dim)`` to ``(y, log|det J_f(x)|)`` with shapes ``(B, dim)`` and ``(B,)``."""

    @abstractmethod
    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``y`` back to ``(x, log|det J_{f^-1}(y)|)``."""
