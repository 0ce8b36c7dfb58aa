"""Composition of flows: a sequence applied in order, and the inverse of a flow."""

from __future__ import annotations

import torch
from torch import nn

from .base import Flow


class FlowSequence(Flow):
    """Apply flows one after another; log-determinants add up.

    ``forward`` runs ``flows[0]`` first; ``inverse`` undoes them in reverse order. The context (if any) is passed
    to every member.

    Args:
        *flows: The flows to chain; all must share ``dim``.

    Example:
        >>> from patchflow.flows import ActNorm, Reverse
        >>> seq = FlowSequence(ActNorm(3), Reverse(3))
        >>> y, logdet = seq(torch.randn(4, 3))
        >>> y.shape, logdet.shape
        (torch.Size([4, 3]), torch.Size([4]))
    """

    def __init__(self, *flows: Flow) -> None:
        if not flows:
            raise ValueError("FlowSequence needs at least one flow")
        dims = {f.dim for f in flows}
        if len(dims) != 1:
            raise ValueError(f"all flows of a sequence must share one dim, got {sorted(dims)}")
        super().__init__(flows[0].dim, max(f.context_dim for f in flows))
        self.flows = nn.ModuleList(flows)

    def _context_for(self, flow: Flow, context: torch.Tensor | None) -> torch.Tensor | None:
        return context if flow.context_dim else None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply every flow in order; returns ``(y, sum of log|det J|)``."""
        logdet = None
        for flow in self.flows:
            x, step = flow(x, self._context_for(flow, context))
            logdet = step if logdet is None else logdet + step
        return x, logdet  # type: ignore[return-value]

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo every flow in reverse order; returns ``(x, sum of log|det J^{-1}|)``."""
        logdet = None
        for flow in reversed(self.flows):
            y, step = flow.inverse(y, self._context_for(flow, context))
            logdet = step if logdet is None else logdet + step
        return y, logdet  # type: ignore[return-value]


class Inverse(Flow):
    """Swap the two directions of a flow (e.g. :class:`~patchflow.flows.Logit` is ``Inverse(Sigmoid(dim))``).

    Args:
        flow: The flow to invert.
    """

    def __init__(self, flow: Flow) -> None:
        super().__init__(flow.dim, flow.context_dim)
        self.flow = flow

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The wrapped flow's inverse."""
        return self.flow.inverse(x, context)

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The wrapped flow's forward."""
        return self.flow(y, context)
