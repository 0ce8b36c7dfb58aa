"""Adversarial Variational Bayes (Mescheder, Nowozin and Geiger 2017): ``vae_avb``, a VAE whose posterior is
implicit and whose KL term is estimated by a discriminator.

The encoder takes noise beside the mel, ``z = z_phi(x, eps)`` with ``eps ~ N(0, I)``, so ``q_phi(z | x)`` has no
density to evaluate. A discriminator ``T(x, z)`` learns to tell posterior samples from prior samples with the
logistic loss

    max_T  E_x E_{q(z|x)} log sigma(T(x, z)) + E_x E_{p(z)} log(1 - sigma(T(x, z))),

whose optimum is ``T*(x, z) = log q(z | x) - log p(z)``; so ``E_q[T*(x, z)]`` is ``KL(q(z | x) || p(z))`` and the
model minimises ``recon + beta * E_eps[T(x, z_phi(x, eps))] + params`` (the gradient of ``T*`` with respect to
``phi`` through its own dependence on ``q`` vanishes in expectation, Proposition 2 of the paper). The two
objectives are two optimisation steps (see :meth:`patchflow.models.latent.LatentModel.training_steps`): ``main``
(encoder, decoder, regressor) and ``disc`` (the discriminator), each with its own optimiser in the shared trainer.

This module holds the pieces (:class:`AVBRegulariser`); :class:`~patchflow.models.latent.LatentModel` uses them
for ``vae_avb`` and for any KL model run with ``model.latent_regulariser=avb`` (``vae_flow``, ``flow_post``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DISC_STEP = "disc"


class Discriminator(nn.Module):
    """``T(x, z)``: features of ``x`` and the code ``z``, each projected to ``hidden``, summed, then two ELU layers
    to a scalar (no batch norm: batch statistics would tell posterior batches from prior batches).

    Args:
        x_features: Size of the features of ``x``.
        latent_dim: Size of ``z``.
        hidden: Width of the layers.
    """

    def __init__(self, x_features: int, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.from_x = nn.Linear(x_features, hidden)
        self.from_z = nn.Linear(latent_dim, hidden)
        self.net = nn.Sequential(nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``T(x, z)`` per sample ``(B,)`` for features ``x`` ``(B, x_features)`` and codes ``z`` ``(B, d)``."""
        return self.net(self.from_x(x) + self.from_z(z)).squeeze(-1)


def discriminator_loss(t_posterior: torch.Tensor, t_prior: torch.Tensor) -> torch.Tensor:
    """The AVB discriminator's logistic loss (the negative of its objective), averaged over the batch:
    ``-log sigma(T(x, z_q)) - log(1 - sigma(T(x, z_p)))`` = ``softplus(-T_q) + softplus(T_p)``."""
    return (F.softplus(-t_posterior) + F.softplus(t_prior)).mean()


class ImplicitPosterior(nn.Module):
    """``z = m(h) + g([c(h), eps])``: a linear map of the encoder's features plus an MLP of a context of them and
    the noise, so that the noise can shape the posterior freely.

    Args:
        features: Size of the encoder's features ``h``.
        latent_dim: Size of ``z``.
        noise_dim: Size of ``eps``.
        hidden: Width of the context and of the MLP.
    """

    def __init__(self, features: int, latent_dim: int, noise_dim: int, hidden: int) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.mean = nn.Linear(features, latent_dim)
        self.context = nn.Linear(features, hidden)
        self.noise_net = nn.Sequential(nn.Linear(hidden + noise_dim, hidden), nn.ELU(), nn.Linear(hidden, latent_dim))

    def forward(self, h: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` for features ``h`` and noise ``eps`` ``(B, noise_dim)``."""
        return self.mean(h) + self.noise_net(torch.cat([F.elu(self.context(h)), eps], dim=1))


class AVBRegulariser(nn.Module):
    """The implicit posterior and the discriminator of AVB, on the features ``h`` of a model's encoder.

    Args:
        features: Size of the encoder's features.
        latent_dim: Size of ``z``.
        noise_dim: Size of ``eps``.
        hidden: Width of the posterior's networks and of ``T``.
    """

    def __init__(self, features: int, latent_dim: int, noise_dim: int, hidden: int) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.posterior = ImplicitPosterior(features, latent_dim, noise_dim, hidden)
        self.discriminator = Discriminator(features, latent_dim, hidden)

    def noise(self, h: torch.Tensor) -> torch.Tensor:
        """``eps ~ N(0, I)`` for a batch of features."""
        return torch.randn(h.shape[0], self.noise_dim, device=h.device, dtype=h.dtype)

    def sample(self, h: torch.Tensor) -> torch.Tensor:
        """A posterior sample ``z_phi(x, eps)`` per row of ``h``."""
        return self.posterior(h, self.noise(h))

    def mode(self, h: torch.Tensor) -> torch.Tensor:
        """The code of the noise's mode, ``z_phi(x, 0)``."""
        return self.posterior(h, h.new_zeros(h.shape[0], self.noise_dim))

    def kl_estimate(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``T(x, z)`` per sample: the estimate of ``log q(z | x) - log p(z)``, with ``h`` detached so that the
        model's step does not train the encoder through the discriminator's input."""
        return self.discriminator(h.detach(), z)

    def discriminator_terms(self, h: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """The discriminator step's loss on posterior codes ``z`` (detached) against prior codes for the same
        features, and its KL estimate ``E_q[T]``."""
        h, z = h.detach(), z.detach()
        t_q = self.discriminator(h, z)
        t_p = self.discriminator(h, torch.randn_like(z))
        return {"loss": discriminator_loss(t_q, t_p), "kl_estimate": t_q.detach().mean()}
