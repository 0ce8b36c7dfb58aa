"""Common ground of the built-in models: ``forward`` computes the losses (so DistributedDataParallel can wrap a
model) and predictions switch to evaluation mode temporarily."""

from __future__ import annotations

import torch

from ..model import SynthModel
from .config import ModelConfig


class ConfiguredModel(SynthModel):
    """A :class:`~patchflow.model.SynthModel` built from a :class:`ModelConfig`.

    Attributes:
        config: The configuration the model was built from.
        description: One line shown by ``patchflow models``.
    """

    description: str = ""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config.n_params)
        self.config = config

    def forward(self, batch: dict[str, torch.Tensor], beta: float = 1.0, step: str | None = None
                ) -> dict[str, torch.Tensor]:
        """Same as :meth:`loss`, or :meth:`step_loss` of ``step`` when one is named (the entry point used by the
        trainer and by DistributedDataParallel)."""
        if step is None:
            return self.loss(batch, beta=beta)
        return self.step_loss(step, batch, beta=beta)
