"""Which learned parameters are regressed and which are classified, and the head that predicts them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ParamHead(nn.Module):
    """Predicts learned parameters from features: a sigmoid output per continuous parameter (squared error) and
    logits per categorical one (cross-entropy).

    Args:
        in_features: Size of the input features.
        cardinalities: Per parameter, its number of classes (0 for continuous ones).
        continuous: Whether to predict the continuous parameters (flow models predict them by other means).
    """

    def __init__(self, in_features: int, cardinalities: Sequence[int], *, continuous: bool = True) -> None:
        super().__init__()
        cards = [int(c) for c in cardinalities]
        self.n_params = len(cards)
        self.register_buffer("cont_index", torch.tensor([i for i, c in enumerate(cards) if c == 0],
                                                        dtype=torch.long), persistent=False)
        self.cat_index = [i for i, c in enumerate(cards) if c > 0]
        self.cat_sizes = [c for c in cards if c > 0]
        self.predicts_continuous = continuous
        n_cont = len(self.cont_index) if continuous else 0
        self.n_outputs = n_cont + sum(self.cat_sizes)
        self.linear = nn.Linear(in_features, self.n_outputs) if self.n_outputs else None

    @property
    def has_categorical(self) -> bool:
        """Whether any learned parameter is categorical."""
        return bool(self.cat_sizes)

    def _split(self, h: torch.Tensor) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        if self.linear is None:
            return None, []
        out = self.linear(h)
        n_cont = len(self.cont_index) if self.predicts_continuous else 0
        cont = torch.sigmoid(out[:, :n_cont]) if n_cont else None
        return cont, list(torch.split(out[:, n_cont:], self.cat_sizes, dim=1)) if self.cat_sizes else []

    def loss(self, h: torch.Tensor, params: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Per-sample loss ``(B,)``: summed squared error of continuous parameters plus summed cross-entropy of
        categorical ones."""
        cont, logits = self._split(h)
        total = h.new_zeros(h.shape[0])
        if cont is not None:
            total = total + ((cont - params[:, self.cont_index]) ** 2).sum(dim=1)
        for column, n, lg in zip(self.cat_index, self.cat_sizes, logits):
            target = classes[:, column]
            # a continuous parameter classified on its grid has no stored class: take it from its value
            target = torch.where(target < 0, torch.round(params[:, column].clamp(0, 1) * (n - 1)).long(), target)
            total = total + F.cross_entropy(lg.float(), target, reduction="none")
        return total

    def snap_classes(self, params: torch.Tensor) -> torch.Tensor:
        """``params`` with each categorical column moved to the nearest class value ``k / (n - 1)``."""
        out = params.clone()
        for column, n in zip(self.cat_index, self.cat_sizes):
            out[:, column] = torch.round(params[:, column].clamp(0, 1) * (n - 1)) / (n - 1)
        return out

    def predict(self, h: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]``; categorical ones as ``k / (n - 1)`` of the most likely class.

        Args:
            h: Input features.
            base: Values to start from (used for continuous parameters when this head does not predict them).
        """
        cont, logits = self._split(h)
        out = h.new_zeros(h.shape[0], self.n_params) if base is None else base.clone()
        if cont is not None:
            out[:, self.cont_index] = cont.to(out.dtype)
        for column, n, lg in zip(self.cat_index, self.cat_sizes, logits):
            out[:, column] = lg.argmax(dim=1).to(out.dtype) / (n - 1)
        return out
