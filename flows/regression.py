r"""The regression flow ``Flow_reg`` (SPEC.md §2.2): an invertible map from the latent audio space to parameters.

The synth parameters are modelled as :math:`v = f_\psi(z) + \epsilon` with
:math:`\epsilon \sim \mathcal N(0, C_v)` and :math:`C_v^{-1} = \operatorname{diag}(e^{\lambda})`, where
:math:`f_\psi` is a stack of IAF steps on :math:`\mathbb R^d` (``d`` = number of parameters), optionally followed
by a sigmoid so that predictions live in :math:`(0, 1)`. :meth:`RegressionFlow.nll` is

.. math::

    \frac12 \sum_i \left[e^{\lambda_i} (v_i - f_\psi(z)_i)^2 - \lambda_i + \log 2\pi\right]
    - w \log\left|\det \frac{\partial f_\psi}{\partial z}\right|,

the precision-weighted MSE with its normaliser (eq. 10 of the paper) plus, optionally, the flow's log-determinant
term of the posterior KL (eq. 13) with weight ``w = logdet_weight``. The default is ``w = 0``: mapping a standard
normal latent onto parameters in ``[0, 1]`` must contract volume, and the ``-log|det|`` term fights that
contraction; on a known 4-parameter map it left the parameter MSE about ten times higher after the same training
(0.043 against 0.004). The other terms of eq. 13, :math:`\log q_0(z)` and a prior on :math:`v_k`, do not
depend on the flow and are left to the model.

Variants:

* ``"post"`` (``Flow_post``): the flow's weights are point estimates; :meth:`RegressionFlow.kl` is 0.
* ``"cond"`` (``Flow_cond``): the flow's weights have Gaussian posteriors, drawn once per call in training mode
  (the means in evaluation mode); :meth:`RegressionFlow.kl` is their KL to an :math:`\mathcal N(0, \sigma_p^2)`
  prior, to be added to the loss.

Boundaries: with ``output="sigmoid"`` (default) the inverse clamps ``v`` into ``[1e-6, 1 - 1e-6]`` before the
logit, so parameters sitting exactly on 0 or 1 map to finite latents; inside that range the inverse is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from .base import Flow

from ._checks import check_batch
from .autoregressive import AutoregressiveStack
from .bayesian import BayesianAutoregressiveStack
from .elementwise import Sigmoid


class RegressionFlow(Flow):
    """Invertible regression from latents ``z`` to synth parameters ``v`` (``Flow_post`` / ``Flow_cond``).

    Args:
        dim: Number of synth parameters (= latent dimension).
        steps: Number of IAF steps (16 in the paper).
        hidden: Hidden widths of each step's MADE conditioner.
        variant: ``"post"`` (point-estimate flow) or ``"cond"`` (Gaussian flow weights with a KL term).
        output: ``"sigmoid"`` for parameters in ``[0, 1]`` or ``"identity"`` for unbounded targets.
        logdet_weight: Weight ``w`` of the log-determinant term in :meth:`nll`.
        max_log_scale: Bound of each step's soft-clamped log-scale.
        prior_std: Prior standard deviation of the flow weights (``"cond"`` only).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> reg = RegressionFlow(4, steps=2, hidden=(16,))
        >>> z = torch.randn(3, 4)
        >>> v_hat, _ = reg(z)
        >>> bool(((v_hat > 0) & (v_hat < 1)).all())
        True
        >>> torch.allclose(reg.inverse(v_hat)[0], z, atol=1e-4)
        True
        >>> reg.nll(z, torch.rand(3, 4)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        dim: int,
        steps: int = 16,
        hidden: Sequence[int] = (64, 64),
        variant: Literal["post", "cond"] = "post",
        output: Literal["sigmoid", "identity"] = "sigmoid",
        logdet_weight: float = 0.0,
        max_log_scale: float = 5.0,
        prior_std: float = 1.0,
    ) -> None:
        super().__init__(dim)
        if variant not in ("post", "cond"):
            raise ValueError(f"variant must be 'post' or 'cond', got {variant!r}")
        if output not in ("sigmoid", "identity"):
            raise ValueError(f"output must be 'sigmoid' or 'identity', got {output!r}")
        self.variant = variant
        self.logdet_weight = float(logdet_weight)
        if variant == "cond":
            self.flow: AutoregressiveStack = BayesianAutoregressiveStack(
                dim, steps, hidden, max_log_scale=max_log_scale, prior_std=prior_std
            )
        else:
            self.flow = AutoregressiveStack(dim, steps, hidden, max_log_scale=max_log_scale)
        self.output = Sigmoid(dim) if output == "sigmoid" else None
        self.log_precision = nn.Parameter(torch.zeros(dim))

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict parameters: ``(v_hat, log|det dv_hat/dz|)``, one network pass per step."""
        check_batch(self, z, self.dim, name="z")
        if context is not None:
            raise TypeError("RegressionFlow takes no context")
        v, logdet = self.flow.transform(z)
        if self.output is not None:
            v, out_logdet = self.output(v)
            logdet = logdet + out_logdet
        return v, logdet

    def inverse(self, v: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map parameters back to the latent space exactly: ``(z, log|det dz/dv|)``."""
        check_batch(self, v, self.dim, name="v")
        if context is not None:
            raise TypeError("RegressionFlow takes no context")
        logdet = v.new_zeros(v.shape[0])
        if self.output is not None:
            v, logdet = self.output.inverse(v)
        z, flow_logdet = self.flow.transform_inverse(v)
        return z, logdet + flow_logdet

    def nll(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of parameters ``v`` given latents ``z`` (see the module docs), shape ``(B,)``.

        Raises:
            ValueError: ``z`` and ``v`` have different shapes.
        """
        check_batch(self, v, self.dim, name="v")
        if v.shape != z.shape:
            raise ValueError(f"z and v must have the same shape, got {tuple(z.shape)} and {tuple(v.shape)}")
        v_hat, logdet = self(z)
        lam = self.log_precision
        gaussian = 0.5 * (torch.exp(lam) * (v - v_hat).square() - lam + math.log(2 * math.pi)).sum(dim=1)
        return gaussian - self.logdet_weight * logdet

    def inverse_error(self, z: torch.Tensor, v: torch.Tensor, margin: float = 0.01) -> torch.Tensor:
        r"""Squared error of the inverse, :math:`\frac12 \lVert f_\psi^{-1}(v) - z \rVert^2`, shape ``(B,)``.

        The other direction of the regression: added to :meth:`nll` it asks the codes of the parameters to be the
        latents they came with, so the flow cannot shrink every direction of the latent space (the forward error
        alone is best served by mapping every code near the average parameters, and the inverse then stretches
        by as much). Gradients reach both the flow and ``z``. With the sigmoid output, ``v`` is first clamped
        into ``[margin, 1 - margin]``: parameters on their bounds would otherwise ask for codes of norm 14.

        Raises:
            ValueError: ``z`` and ``v`` have different shapes.
        """
        check_batch(self, v, self.dim, name="v")
        if v.shape != z.shape:
            raise ValueError(f"z and v must have the same shape, got {tuple(z.shape)} and {tuple(v.shape)}")
        if self.output is not None:
            v = v.clamp(margin, 1.0 - margin)
        codes, _ = self.inverse(v)
        return 0.5 * (codes - z).square().sum(dim=1)

    def kl(self) -> torch.Tensor:
        """KL of the flow-weight posterior to its prior: 0 for ``"post"``, a positive scalar for ``"cond"``."""
        if isinstance(self.flow, BayesianAutoregressiveStack):
            return self.flow.kl()
        return self.log_precision.new_zeros(())
