r"""Affine coupling (RealNVP, Dinh et al., 2017).

The features are split by a binary mask into a kept part :math:`x_a` and a transformed part :math:`x_b`:

.. math::

    y_a = x_a, \qquad y_b = x_b \exp(s(x_a, c)) + t(x_a, c), \qquad \log|\det J| = \sum s,

with the log-scale soft-clamped to :math:`(-b, b)`, :math:`s = b \tanh(\tilde s / 2)`. Both directions cost one network pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Flow

from ._checks import check_batch, check_context


class AffineCoupling(Flow):
    """Affine coupling layer: half of the features parameterise an affine map of the other half.

    Args:
        dim: Number of features (at least 2).
        hidden: Hidden widths of the conditioner MLP.
        context_dim: Size of an optional conditioning vector.
        parity: Which half is kept: 0 keeps the even features, 1 the odd ones.
        max_log_scale: Bound of the soft-clamped log-scale.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> layer = AffineCoupling(4, hidden=(8,))
        >>> x = torch.randn(3, 4)
        >>> torch.allclose(layer.inverse(layer(x)[0])[0], x, atol=1e-6)
        True
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (64, 64),
        context_dim: int = 0,
        parity: int = 0,
        max_log_scale: float = 5.0,
    ) -> None:
        super().__init__(dim, context_dim)
        if dim < 2:
            raise ValueError(f"a coupling layer needs dim >= 2, got {dim}")
        kept = torch.arange(dim) % 2 == parity % 2
        self.register_buffer("kept", kept.nonzero().squeeze(1))
        self.register_buffer("moved", (~kept).nonzero().squeeze(1))
        self.register_buffer("inverse_perm", torch.argsort(torch.cat([self.kept, self.moved])))
        self.max_log_scale = float(max_log_scale)
        n_kept, n_moved = self.kept.numel(), self.moved.numel()
        widths = [n_kept + context_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        last = nn.Linear(widths[-1], 2 * n_moved)
        nn.init.zeros_(last.bias)
        with torch.no_grad():
            last.weight.mul_(0.01)
        self.net = nn.Sequential(*layers, last)
        self.n_moved = n_moved

    def _params(self, x_a: torch.Tensor, context: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = x_a if context is None else torch.cat([x_a, context], dim=1)
        out = self.net(inputs)
        return out[:, : self.n_moved], torch.tanh(out[:, self.n_moved :] * 0.5) * self.max_log_scale

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform the moved half given the kept half; returns ``(y, log|det J|)``."""
        check_batch(self, x, self.dim)
        context = check_context(self, context, self.context_dim, x.shape[0])
        x_a, x_b = x[:, self.kept], x[:, self.moved]
        shift, log_scale = self._params(x_a, context)
        y_b = torch.addcmul(shift, x_b, log_scale.exp())
        return torch.cat([x_a, y_b], dim=1)[:, self.inverse_perm], log_scale.sum(dim=1)

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo the affine map of the moved half; returns ``(x, log|det J^{-1}|)``."""
        check_batch(self, y, self.dim, name="y")
        context = check_context(self, context, self.context_dim, y.shape[0])
        y_a, y_b = y[:, self.kept], y[:, self.moved]
        shift, log_scale = self._params(y_a, context)
        x_b = (y_b - shift) * torch.exp(-log_scale)
        return torch.cat([y_a, x_b], dim=1)[:, self.inverse_perm], -log_scale.sum(dim=1)
