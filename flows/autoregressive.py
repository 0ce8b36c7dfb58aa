r"""Stacks of masked affine autoregressive steps: IAF (fast sampling) and MAF (fast density).

Both stacks chain ``steps`` :class:`~patchflow.flows.made.MaskedAffineAutoregressive` transforms whose
autoregressive order alternates between ascending and descending, which is a reversal permutation between steps
folded into the masks (no tensor copy). They differ in which side the standard normal base sits on:

* :class:`IAF`: ``forward`` maps base noise ``z_0`` to a sample ``z_K`` in one pass per step
  (sampling, ``rsample_and_log_prob``, the VAE flow posterior). ``log_prob`` of an outside point needs the
  ``dim``-pass inverse.
* :class:`MAF`: ``forward`` maps data ``x`` to base noise ``u`` in one pass per step (``log_prob``, density
  training). ``sample`` needs the ``dim``-pass inverse.

With a standard normal base :math:`\mathcal N(0, I)`,

.. math::

    \log p(x) = \log \mathcal N(f(x); 0, I) + \log |\det J_f(x)|   \quad\text{(MAF, } f \text{ = forward)}

    \log q(z_K) = \log \mathcal N(z_0; 0, I) - \log |\det J_f(z_0)|   \quad\text{(IAF, } z_K = f(z_0)\text{)}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from ._checks import check_context
from .made import MaskedAutoregressiveFlow


def standard_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    """Log-density of ``N(0, I)`` at each row of ``x``, shape ``(B,)``."""
    return -0.5 * (x.square().sum(dim=1) + x.shape[1] * math.log(2 * math.pi))


class AutoregressiveStack(MaskedAutoregressiveFlow):
    """``steps`` masked affine autoregressive transforms whose orders alternate ascending / descending.

    Alternating orders amount to a reversal permutation between steps, folded into the masks.

    Args:
        dim: Number of features.
        steps: Number of stacked transforms.
        hidden: Hidden widths of each step's conditioner.
        context_dim: Size of the optional conditioning vector (0 for none).
        max_log_scale: Bound of each step's soft-clamped log-scale.
    """

    def __init__(
        self,
        dim: int,
        steps: int = 16,
        hidden: Sequence[int] = (64, 64),
        context_dim: int = 0,
        max_log_scale: float = 5.0,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        ascending = torch.arange(dim)
        orders = [ascending if k % 2 == 0 else ascending.flip(0) for k in range(steps)]
        super().__init__(dim, orders, hidden=hidden, context_dim=context_dim, max_log_scale=max_log_scale)

    def _noise(self, n: int | None, context: torch.Tensor | None) -> torch.Tensor:
        ref = self.weight0
        if context is not None:
            if n is not None and n != context.shape[0]:
                raise ValueError(f"n={n} does not match the context batch size {context.shape[0]}")
            n = context.shape[0]
        if n is None or n < 1:
            raise ValueError(f"give a positive number of samples n (or a context), got {n}")
        return torch.randn(n, self.dim, dtype=ref.dtype, device=ref.device)


class IAF(AutoregressiveStack):
    r"""Inverse autoregressive flow: a stack whose ``forward`` maps base noise to samples in one pass per step.

    This is the VAE flow posterior: ``z_K, logdet = iaf(z_0, context=h)`` with ``z_0 ~ q_0(z|x)`` and encoder
    features ``h``; then :math:`\log q_K(z_K) = \log q_0(z_0) - \text{logdet}`.

    Args:
        dim: Number of features.
        steps: Number of IAF steps (16 in the paper).
        hidden: Hidden widths of each step's MADE conditioner.
        context_dim: Size of the optional conditioning vector.
        max_log_scale: Bound of each step's soft-clamped log-scale.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> iaf = IAF(4, steps=3, hidden=(16,))
        >>> z, log_q = iaf.rsample_and_log_prob(5)
        >>> torch.allclose(iaf.log_prob(z), log_q, atol=1e-5)
        True
    """

    def rsample_and_log_prob(
        self, n: int | None = None, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` reparameterised samples (one per context row if a context is given) and their log-density."""
        context = check_context(self, context, self.context_dim, n if context is None else context.shape[0])
        z0 = self._noise(n, context)
        z, logdet = self.forward(z0, context)
        return z, standard_normal_log_prob(z0) - logdet

    def sample(self, n: int | None = None, context: torch.Tensor | None = None) -> torch.Tensor:
        """Draw ``n`` samples (fast direction)."""
        return self.rsample_and_log_prob(n, context)[0]

    def log_prob(self, z: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Log-density of given points (slow direction: ``dim`` passes per step)."""
        z0, logdet = self.inverse(z, context)
        return standard_normal_log_prob(z0) + logdet


class MAF(AutoregressiveStack):
    r"""Masked autoregressive flow: a stack whose ``forward`` maps data to base noise in one pass per step.

    :math:`\log p(x) = \log \mathcal N(u; 0, I) + \text{logdet}` with ``u, logdet = maf(x)``.

    Args:
        dim: Number of features.
        steps: Number of MAF steps.
        hidden: Hidden widths of each step's MADE conditioner.
        context_dim: Size of the optional conditioning vector.
        max_log_scale: Bound of each step's soft-clamped log-scale.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> maf = MAF(2, steps=2, hidden=(8,))
        >>> x = maf.sample(3)
        >>> maf.log_prob(x).shape
        torch.Size([3])
    """

    def log_prob(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Log-density of data points (fast direction)."""
        u, logdet = self.forward(x, context)
        return standard_normal_log_prob(u) + logdet

    def sample(self, n: int | None = None, context: torch.Tensor | None = None) -> torch.Tensor:
        """Draw ``n`` samples (slow direction: ``dim`` passes per step)."""
        if context is not None:
            check_context(self, context, self.context_dim, context.shape[0])
        return self.inverse(self._noise(n, context), context)[0]
