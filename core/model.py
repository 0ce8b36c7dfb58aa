"""The contract every trainable model fulfils, so the trainer, evaluation and applications treat them alike."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class SynthModel(nn.Module, ABC):
    """A model from audio features to synth parameters, optionally through a latent space.

    Batches are dictionaries of tensors: ``mel`` ``(B, n_mels, frames)`` (normalised log-mel), ``params``
    ``(B, P)`` in ``[0, 1]``, ``classes`` ``(B, P)`` (class index of categorical parameters, -1 elsewhere) and
    ``tags`` ``(B, T)`` (-1 / 0 / +1).

    Attributes:
        n_params: Number of learned parameters ``P``.
        latent_dim: Size of the latent space (0 for models without one).
    """

    latent_dim: int = 0

    def __init__(self, n_params: int) -> None:
        super().__init__()
        self.n_params = int(n_params)

    @abstractmethod
    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Training losses of a batch: a dict with a scalar ``"loss"`` to minimise and any scalar terms to log."""

    @abstractmethod
    def predict_params(self, mel: torch.Tensor) -> torch.Tensor:
        """Most likely parameters ``(B, P)`` in ``[0, 1]`` for a batch of mels (categorical ones as
        ``k / (n - 1)`` of the predicted class)."""

    # ----------------------------------------------------------------------- generative models override these
    @property
    def can_sample(self) -> bool:
        """Whether :meth:`sample_params` draws candidates (models of ``p(v | x)``, such as ``flow_gen``)."""
        return False

    def sample_params(self, mel: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` candidate parameter vectors ``(B, n, P)`` in ``[0, 1]`` per mel, drawn from the model's
        ``p(v | x)`` with noise from ``generator``. Models that cannot sample return an empty ``(B, 0, P)``."""
        return mel.new_zeros(mel.shape[0], 0, self.n_params)

    # ------------------------------------------------------------------------- latent models override these
    @property
    def has_latent(self) -> bool:
        """Whether :meth:`encode` and :meth:`params_from_latent` are available."""
        return self.latent_dim > 0

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Latent code ``(B, latent_dim)`` (the posterior mean, after any posterior flow) of a batch of mels."""
        raise NotImplementedError(f"{type(self).__name__} has no latent space")

    def params_from_latent(self, z: torch.Tensor, *, classify: bool = True) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]`` for latent codes (through ``p(v|z)``).

        ``classify=False`` asks invertible models to decode categorical parameters from the same invertible map
        as the others, so that ``params_from_latent(latent_from_params(v), classify=False)`` gives ``v`` back;
        other models ignore it.
        """
        raise NotImplementedError(f"{type(self).__name__} has no latent space")

    def latent_from_params(self, params: torch.Tensor) -> torch.Tensor:
        """Latent codes for parameters (the inverse regression flow). Only invertible models implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot map parameters back to its latent space")
