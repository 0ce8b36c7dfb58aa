r"""Masked autoregressive stack whose conditioner weights are random variables (for ``Flow_cond``).

Every masked weight has a mean-field Gaussian posterior :math:`q(\psi) = \mathcal N(\mu, \sigma^2)` with
:math:`\sigma = \operatorname{softplus}(\rho)` and a prior :math:`p(\psi) = \mathcal N(0, \sigma_p^2)`.
In training mode one set of weights is drawn per call with the reparameterisation trick; in evaluation mode,
and always in :meth:`inverse`, the means are used, so ``inverse(forward(x)) == x`` holds exactly in evaluation
mode. Biases are point estimates.

.. math::

    \mathrm{KL}(q \,\|\, p) = \sum \log\frac{\sigma_p}{\sigma} + \frac{\sigma^2 + \mu^2}{2\sigma_p^2} - \frac12
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .autoregressive import AutoregressiveStack


class BayesianAutoregressiveStack(AutoregressiveStack):
    """An :class:`~patchflow.flows.autoregressive.AutoregressiveStack` with Gaussian weight posteriors.

    Args:
        dim: Number of features.
        steps: Number of stacked transforms.
        hidden: Hidden widths of each conditioner.
        context_dim: Size of the optional conditioning vector.
        max_log_scale: Bound of each step's soft-clamped log-scale.
        prior_std: Standard deviation :math:`\\sigma_p` of the weight prior.
        initial_std: Initial posterior standard deviation of every weight.
    """

    def __init__(
        self,
        dim: int,
        steps: int = 16,
        hidden: Sequence[int] = (64, 64),
        context_dim: int = 0,
        max_log_scale: float = 5.0,
        prior_std: float = 1.0,
        initial_std: float = 1e-3,
    ) -> None:
        super().__init__(dim, steps, hidden, context_dim, max_log_scale)
        if prior_std <= 0 or initial_std <= 0:
            raise ValueError(f"prior_std and initial_std must be positive, got {prior_std}, {initial_std}")
        self.prior_std = float(prior_std)
        rho = math.log(math.expm1(initial_std))
        for layer in range(self.n_layers):
            shape = self.weights_of(layer).shape
            self.register_parameter(f"weight_rho{layer}", nn.Parameter(torch.full(shape, rho)))
        self._use_means = False

    def weight_stds(self) -> list[torch.Tensor]:
        """Posterior standard deviations of the stacked weights, one tensor per layer."""
        return [F.softplus(getattr(self, f"weight_rho{layer}")) for layer in range(self.n_layers)]

    def raw_weights(self) -> list[torch.Tensor]:
        """Posterior means in evaluation mode; one reparameterised draw per call in training mode."""
        means = [self.weights_of(layer) for layer in range(self.n_layers)]
        if not self.training or self._use_means:
            return means
        return [m + s * torch.randn_like(m) for m, s in zip(means, self.weight_stds())]

    def transform_inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact inverse with the posterior means of the weights."""
        self._use_means = True
        try:
            return super().transform_inverse(y, context)
        finally:
            self._use_means = False

    def kl(self) -> torch.Tensor:
        """KL divergence between the weight posterior and prior, summed over all unmasked weights."""
        total = self.weight0.new_zeros(())
        for layer, std in enumerate(self.weight_stds()):
            mean = self.weights_of(layer)
            mask = getattr(self, f"mask{layer}")
            kl = math.log(self.prior_std) - torch.log(std) + (std.square() + mean.square()) / (2 * self.prior_std**2)
            total = total + ((kl - 0.5) * mask).sum()
        return total
