r"""Element-wise squashing layers for parameters that live in ``[0, 1]``.

:class:`Sigmoid` maps :math:`\mathbb R^d` onto :math:`(0, 1)^d`:

.. math::

    y = \sigma(x), \qquad \log|\det J| = \sum_i \log \sigma(x_i) + \log \sigma(-x_i)
    = -\sum_i \operatorname{softplus}(x_i) + \operatorname{softplus}(-x_i).

Its inverse is the logit. The bounds 0 and 1 themselves map to :math:`\mp\infty`, so the inverse first clamps
``y`` to ``[eps, 1 - eps]`` (``eps = 1e-6`` by default): it is exact for every ``y`` in that interval and maps
the end points 0 and 1 of a normalised parameter to finite latents.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Flow

from ._checks import check_batch, check_context
from .sequence import Inverse


class Sigmoid(Flow):
    """The logistic sigmoid as a flow, ``R^d -> (0, 1)^d``.

    Args:
        dim: Number of features.
        eps: Clamp margin applied to ``y`` before the logit in :meth:`inverse`.

    Example:
        >>> layer = Sigmoid(2)
        >>> y, _ = layer(torch.tensor([[0.0, 2.0]]))
        >>> layer.inverse(y)[0]
        tensor([[0.0000, 2.0000]])
        >>> layer.inverse(torch.tensor([[0.0, 1.0]]))[0].isfinite().all()
        tensor(True)
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__(dim)
        if not 0.0 <= eps < 0.5:
            raise ValueError(f"eps must be in [0, 0.5), got {eps}")
        self.eps = float(eps)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(sigmoid(x), log|det J|)``."""
        check_batch(self, x, self.dim)
        check_context(self, context, 0, x.shape[0])
        logdet = -(F.softplus(x) + F.softplus(-x)).sum(dim=1)
        return torch.sigmoid(x), logdet

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logit(clamp(y)), log|det J^{-1}|)``."""
        check_batch(self, y, self.dim, name="y")
        check_context(self, context, 0, y.shape[0])
        y = y.clamp(self.eps, 1.0 - self.eps)
        return torch.logit(y), -(torch.log(y) + torch.log1p(-y)).sum(dim=1)


def Logit(dim: int, eps: float = 1e-6) -> Inverse:  # noqa: N802 - reads as a layer class
    """The logit as a flow, ``(0, 1)^d -> R^d``: the inverse of :class:`Sigmoid`.

    Args:
        dim: Number of features.
        eps: Clamp margin applied to inputs before the logit.

    Returns:
        ``Inverse(Sigmoid(dim, eps))``.
    """
    return Inverse(Sigmoid(dim, eps))
