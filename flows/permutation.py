"""Volume-preserving reorderings of the features (log-determinant 0)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import Flow

from ._checks import check_batch, check_context


class Permutation(Flow):
    """Reorder the features: ``y = x[:, perm]``.

    Args:
        dim: Number of features.
        perm: A permutation of ``0..dim-1``; a random one (from the global torch seed) if omitted.
    """

    def __init__(self, dim: int, perm: Sequence[int] | torch.Tensor | None = None) -> None:
        super().__init__(dim)
        perm_t = torch.randperm(dim) if perm is None else torch.as_tensor(perm, dtype=torch.long)
        if perm_t.shape != (dim,) or not torch.equal(perm_t.sort().values, torch.arange(dim)):
            raise ValueError(f"perm must be a permutation of 0..{dim - 1}, got {perm_t.tolist()}")
        self.register_buffer("perm", perm_t)
        self.register_buffer("inverse_perm", torch.argsort(perm_t))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x[:, perm], 0)``."""
        check_batch(self, x, self.dim)
        check_context(self, context, 0, x.shape[0])
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(y[:, argsort(perm)], 0)``."""
        check_batch(self, y, self.dim, name="y")
        check_context(self, context, 0, y.shape[0])
        return y[:, self.inverse_perm], y.new_zeros(y.shape[0])


class Reverse(Permutation):
    """Reverse the order of the features (the usual permutation between autoregressive steps).

    Args:
        dim: Number of features.
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim, torch.arange(dim).flip(0))
