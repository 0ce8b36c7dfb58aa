"""A moving average of a model's weights (``ema_decay``): smoother weights than the last step's, for free."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class WeightAverage:
    """An exponential moving average of a model's parameters and floating-point buffers.

    After each update ``w_avg <- decay * w_avg + (1 - decay) * w`` for every floating tensor of the model's state
    (parameters and batch-norm statistics alike); the first update copies the weights, and integer or boolean
    buffers (permutations, indices, flags) are copied, never averaged. (torch's ``AveragedModel`` either copies
    every buffer or averages all of them through floats, which truncates integer ones.)

    Args:
        model: The model being trained (copied; the copy holds the average).
        decay: Weight of the average at each update (0.999: about the last 1,000 steps).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model: Any = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` into the average."""
        mine = self.model.state_dict()
        for name, value in model.state_dict().items():
            if self.updates == 0 or not torch.is_floating_point(value):
                mine[name].copy_(value)
            else:
                mine[name].lerp_(value, 1.0 - self.decay)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """The average and its update count, for checkpoints."""
        return {"model": self.model.state_dict(), "updates": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
