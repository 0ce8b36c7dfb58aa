r"""Normalisation layers as flows: ActNorm (Glow) and batch normalisation (MAF paper).

Both are element-wise affine maps :math:`y = (x - m) e^{-\ell}`, so :math:`\log|\det J| = -\sum_i \ell_i`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Flow

from ._checks import check_batch, check_context


class ActNorm(Flow):
    r"""Activation normalisation (Kingma & Dhariwal, 2018): :math:`y = (x - m) \odot e^{-\ell}`.

    ``m`` and ``\ell`` are learned; on the first forward call in training mode they are set from the batch so
    that the output has zero mean and unit variance per feature (data-dependent initialisation).

    Args:
        dim: Number of features.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> norm = ActNorm(2)
        >>> y, _ = norm(3 + 2 * torch.randn(500, 2))
        >>> bool(y.mean(0).abs().max() < 1e-5), bool((y.std(0) - 1).abs().max() < 1e-2)
        (True, True)
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        self.loc.copy_(x.mean(0))
        std = x.std(0) if x.shape[0] > 1 else torch.ones_like(self.log_scale)
        self.log_scale.copy_(std.clamp_min(1e-6).log())
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalise ``x``; returns ``(y, -sum(log_scale))`` per sample."""
        check_batch(self, x, self.dim)
        check_context(self, context, 0, x.shape[0])
        if self.training and not bool(self.initialized):
            self._initialize(x)
        y = (x - self.loc) * torch.exp(-self.log_scale)
        return y, (-self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo the normalisation; returns ``(x, sum(log_scale))`` per sample."""
        check_batch(self, y, self.dim, name="y")
        check_context(self, context, 0, y.shape[0])
        return torch.addcmul(self.loc, y, torch.exp(self.log_scale)), self.log_scale.sum().expand(y.shape[0])


class BatchNormFlow(Flow):
    r"""Batch normalisation as a flow (Papamakarios et al., 2017).

    .. math:: y = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} e^{\gamma} + \beta

    In training mode :math:`\mu, \sigma^2` are the batch statistics (and update running averages); in
    evaluation mode the running averages are used. ``inverse`` always uses the running averages, so
    ``inverse(forward(x)) == x`` holds exactly in evaluation mode.

    Args:
        dim: Number of features.
        momentum: Weight of the newest batch in the running averages.
        eps: Added to the variance for stability.
    """

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__(dim)
        self.log_gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def _stats(self, x: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if x is not None and self.training:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
            return mean, var
        return self.running_mean, self.running_var

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalise ``x``; returns ``(y, log|det J|)``."""
        check_batch(self, x, self.dim)
        check_context(self, context, 0, x.shape[0])
        mean, var = self._stats(x)
        log_scale = self.log_gamma - 0.5 * torch.log(var + self.eps)
        y = (x - mean) * torch.exp(log_scale) + self.beta
        return y, log_scale.sum().expand(x.shape[0])

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo the normalisation with the running statistics; returns ``(x, log|det J^{-1}|)``."""
        check_batch(self, y, self.dim, name="y")
        check_context(self, context, 0, y.shape[0])
        mean, var = self._stats(None)
        log_scale = self.log_gamma - 0.5 * torch.log(var + self.eps)
        x = (y - self.beta) * torch.exp(-log_scale) + mean
        return x, (-log_scale.sum()).expand(y.shape[0])
