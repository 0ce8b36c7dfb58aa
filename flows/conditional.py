r"""An element-wise affine map whose shift and scale are computed from a context.

.. math::

    y = x \odot e^{s(c)} + t(c), \qquad (t, \tilde s) = \mathrm{MLP}(c), \qquad s = b \tanh(\tilde s / b),
    \qquad \log|\det J| = \sum_i s_i .

It gives every feature a location and a scale that follow the context. A MADE conditioner cannot do that for the
first feature of its order (that output sees no hidden unit, so it gets a constant shift and scale whatever the
context), and in one dimension a conditional :class:`~patchflow.flows.MAF` is therefore not conditional at all;
placed before (on the data side of) a MAF, this layer conditions every feature.

The MLP's last layer starts at zero, so a fresh layer is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_batch, check_context
from .base import Flow


class ConditionalAffine(Flow):
    """``y = x * exp(s(c)) + t(c)`` per feature, with ``(t, s)`` from an MLP of the context ``c``.

    Args:
        dim: Number of features.
        context_dim: Size of the conditioning vector (at least 1).
        hidden: Hidden widths of the MLP (ReLU); empty for a linear map of the context.
        max_log_scale: Bound ``b`` of the soft-clamped log-scale.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> layer = ConditionalAffine(3, context_dim=2, hidden=(8,))
        >>> x, c = torch.randn(4, 3), torch.randn(4, 2)
        >>> torch.equal(layer(x, c)[0], x)  # a fresh layer is the identity
        True
        >>> _ = nn.init.normal_(layer.net[-1].weight)
        >>> y, logdet = layer(x, c)
        >>> x_back, logdet_back = layer.inverse(y, c)
        >>> torch.allclose(x_back, x, atol=1e-6), torch.allclose(logdet, -logdet_back)
        (True, True)
    """

    def __init__(self, dim: int, context_dim: int, hidden: Sequence[int] = (64,), max_log_scale: float = 5.0) -> None:
        super().__init__(dim, context_dim)
        if self.context_dim < 1:
            raise ValueError(f"ConditionalAffine needs a context (context_dim >= 1), got {context_dim}")
        if max_log_scale <= 0:
            raise ValueError(f"max_log_scale must be positive, got {max_log_scale}")
        widths = [self.context_dim, *(int(h) for h in hidden)]
        if min(widths) < 1:
            raise ValueError(f"hidden widths must be positive, got {tuple(hidden)}")
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], 2 * self.dim))
        self.net = nn.Sequential(*layers)
        self.max_log_scale = float(max_log_scale)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def shift_and_log_scale(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(t, s)``, each ``(B, dim)``, for a checked context."""
        shift, raw = self.net(context).chunk(2, dim=1)
        bound = self.max_log_scale
        return shift, torch.tanh(raw / bound) * bound

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x * exp(s) + t, sum(s))``."""
        check_batch(self, x, self.dim)
        shift, log_scale = self.shift_and_log_scale(check_context(self, context, self.context_dim, x.shape[0]))
        return torch.addcmul(shift, x, torch.exp(log_scale)), log_scale.sum(dim=1)

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``((y - t) * exp(-s), -sum(s))``."""
        check_batch(self, y, self.dim, name="y")
        shift, log_scale = self.shift_and_log_scale(check_context(self, context, self.context_dim, y.shape[0]))
        return (y - shift) * torch.exp(-log_scale), -log_scale.sum(dim=1)
