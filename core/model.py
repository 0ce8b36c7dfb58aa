"""The contract every trainable model fulfils, so the trainer, evaluation and applications treat them alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TrainingStep:
    """One optimisation step of a training iteration, as a model declares it in
    :meth:`SynthModel.training_steps`.

    The trainer gives every step its own Adam optimiser and learning-rate scheduler and runs the steps in order on
    each batch: forward, backward, gradient step of that step's parameters only.

    Attributes:
        name: The step's name. The first step minimises :meth:`SynthModel.loss`; a later step minimises
            :meth:`SynthModel.step_loss` of its name, and the terms it reports are logged with the name as prefix
            (``disc_loss``). Names are identifiers (letters, digits, ``_``).
        parameters: The parameters this step's optimiser updates; no parameter belongs to two steps.
        lr_scale: Multiplies the run's learning rate for this step.
    """

    name: str
    parameters: tuple[nn.Parameter, ...]
    lr_scale: float = 1.0


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

    # ------------------------------------------------------------- models with several optimisers override these
    def training_steps(self) -> list[TrainingStep]:
        """The optimisation steps of one training iteration, in order (default: one step, ``main``, over every
        parameter, minimising :meth:`loss`).

        A model with several steps (an adversarial one, such as ``vae_avb``) returns one :class:`TrainingStep` per
        optimiser and computes the loss of a later step in :meth:`step_loss`. The trainer calls the model
        (``forward``, so that DistributedDataParallel sees every step) as ``model(batch, beta)`` for the first step
        and ``model(batch, beta, step=name)`` for the others, so such a model's ``forward`` takes ``step``.
        """
        return [TrainingStep("main", tuple(self.parameters()))]

    def step_loss(self, step: str, batch: dict[str, torch.Tensor], *, beta: float = 1.0
                  ) -> dict[str, torch.Tensor]:
        """Losses of the optimisation step ``step`` (see :meth:`training_steps`): a dict with a scalar ``"loss"``
        and any scalar terms to log. The first step's are :meth:`loss`'s."""
        if step == self.training_steps()[0].name:
            return self.loss(batch, beta=beta)
        raise KeyError(f"{type(self).__name__} has no training step {step!r}")

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
