r"""The disentangling flow ``Flow_dis`` (SPEC.md §2.3): tag pairs become semantic latent dimensions.

Tag pair ``k`` (e.g. Dark/Bright) owns latent dimension ``pair_dims[k]``. A flow :math:`f` on :math:`z` is
trained so that, after the flow, samples tagged negative sit around :math:`-\mu^*` and samples tagged positive
around :math:`+\mu^*`; the other dimensions keep a standard normal target. :meth:`DisentanglingFlow.loss`
returns, per sample,

.. math::

    \log \mathcal N(z; 0, I) - \log\left|\det \frac{\partial f}{\partial z}\right| - \log p^*(f(z)),
    \qquad p^*(z') = \prod_{j \notin \text{pairs}} \mathcal N(z'_j; 0, 1) \prod_k p_k(z'_{d_k}),

which is eq. (16) of the paper (:math:`L_o`). For a tagged pair :math:`p_k = \mathcal N(-\mu^*, \sigma_-)` (tag
``-1``) or :math:`\mathcal N(+\mu^*, \sigma_+)` (tag ``+1``).

For an unknown tag (``0``) the tag is a latent variable, as in the M2 model of Kingma et al. (2014). M2's term
:math:`\sum_t q(t|z)\,[-\log p(t) - \log p(z'|t)] - \mathcal H(q)` is smallest when :math:`q(t|z)` is the exact
posterior, where it equals the negative log marginal. We use that exact form: :math:`p_k` is the equal-weight
mixture :math:`\tfrac12 \mathcal N(-\mu^*, \sigma_-) + \tfrac12 \mathcal N(+\mu^*, \sigma_+)`, which lets an
untagged sample pick the nearer side (:math:`L_u`). The total is :math:`L = L_o + L_u`, summed per sample.

The :math:`\log \mathcal N(z; 0, I)` term does not depend on the flow; it is evaluated on a detached ``z`` so the
value is a KL estimate without pushing an upstream encoder away from the origin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import Flow

from ._checks import check_batch
from .autoregressive import AutoregressiveStack, standard_normal_log_prob


def _normal_log_prob(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return -0.5 * ((x - mean) / std).square() - math.log(std) - 0.5 * math.log(2 * math.pi)


class DisentanglingFlow(Flow):
    """A flow on the latent space whose tagged dimensions separate tag pairs (``Flow_dis``).

    Args:
        dim: Latent dimension.
        n_pairs: Number of tag pairs.
        steps: Number of IAF steps of the flow.
        hidden: Hidden widths of each step's conditioner.
        mu_star: Distance :math:`\\mu^*` of each side's target mean from 0.
        sigma_neg: Standard deviation of the negative side's target.
        sigma_pos: Standard deviation of the positive side's target.
        pair_dims: The latent dimension of each pair; ``0..n_pairs-1`` by default.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> dis = DisentanglingFlow(4, n_pairs=2, steps=2, hidden=(16,))
        >>> z = torch.randn(3, 4)
        >>> tags = torch.tensor([[1, 0], [-1, 1], [0, 0]])
        >>> dis.loss(z, tags).shape
        torch.Size([3])
    """

    def __init__(
        self,
        dim: int,
        n_pairs: int,
        steps: int = 8,
        hidden: Sequence[int] = (64, 64),
        mu_star: float = 2.0,
        sigma_neg: float = 0.5,
        sigma_pos: float = 0.5,
        pair_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__(dim)
        if not 1 <= n_pairs <= dim:
            raise ValueError(f"n_pairs must be between 1 and dim={dim}, got {n_pairs}")
        if sigma_neg <= 0 or sigma_pos <= 0:
            raise ValueError(f"sigma_neg and sigma_pos must be positive, got {sigma_neg}, {sigma_pos}")
        dims = list(range(n_pairs)) if pair_dims is None else [int(d) for d in pair_dims]
        if len(dims) != n_pairs or len(set(dims)) != n_pairs or not all(0 <= d < dim for d in dims):
            raise ValueError(f"pair_dims must be {n_pairs} distinct dimensions in 0..{dim - 1}, got {dims}")
        self.n_pairs = n_pairs
        self.mu_star, self.sigma_neg, self.sigma_pos = float(mu_star), float(sigma_neg), float(sigma_pos)
        self.register_buffer("pair_dims", torch.tensor(dims, dtype=torch.long))
        self.flow = AutoregressiveStack(dim, steps, hidden)

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map latents to the disentangled space: ``(z', log|det dz'/dz|)``."""
        return self.flow(z, context)

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map disentangled coordinates back to latents exactly."""
        return self.flow.inverse(y, context)

    def target_log_prob(self, z_prime: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """``log p*(z')`` per sample for tags in {-1, 0, +1} (0 = unknown, mixture of both sides)."""
        log_p = _normal_log_prob(z_prime, 0.0, 1.0)
        paired = z_prime[:, self.pair_dims]
        neg = _normal_log_prob(paired, -self.mu_star, self.sigma_neg)
        pos = _normal_log_prob(paired, self.mu_star, self.sigma_pos)
        unknown = torch.logaddexp(neg, pos) - math.log(2.0)
        pair_log_p = torch.where(tags > 0, pos, torch.where(tags < 0, neg, unknown))
        rest = log_p.sum(dim=1) - log_p[:, self.pair_dims].sum(dim=1)
        return rest + pair_log_p.sum(dim=1)

    def loss(self, z: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """``L_o + L_u`` per sample (see the module docs), shape ``(B,)``.

        Args:
            z: Latents, ``(B, dim)``.
            tags: ``(B, n_pairs)`` with -1 (negative tag), +1 (positive tag) or 0 (unknown).

        Raises:
            ValueError: ``tags`` has the wrong shape or values outside {-1, 0, 1}.
        """
        check_batch(self, z, self.dim, name="z")
        if not isinstance(tags, torch.Tensor) or tags.shape != (z.shape[0], self.n_pairs):
            shape = tuple(tags.shape) if isinstance(tags, torch.Tensor) else type(tags).__name__
            raise ValueError(f"tags must be a tensor of shape ({z.shape[0]}, {self.n_pairs}), got {shape}")
        if not bool(((tags == -1) | (tags == 0) | (tags == 1)).all()):
            raise ValueError("tags must only contain -1 (negative), 0 (unknown) or +1 (positive)")
        z_prime, logdet = self(z)
        return standard_normal_log_prob(z.detach()) - logdet - self.target_log_prob(z_prime, tags.to(z.device))
