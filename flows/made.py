r"""Masked affine autoregressive transforms with MADE conditioners, fused across stacked steps.

Each step is

.. math::

    y_i = x_i \exp(s_i) + t_i, \qquad (t, \tilde s) = \mathrm{MADE}(x, c), \qquad s = b \tanh(\tilde s / 2),
    \qquad \log |\det J| = \sum_i s_i,

where output :math:`i` of the masked MLP (Germain et al., 2015) only sees the features before :math:`i` in the
step's autoregressive order, and the log-scale is soft-clamped to :math:`(-b, b)` (``max_log_scale``) so that
extreme inputs keep finite gradients.

All the steps of a stack share three stacked weight tensors (one per layer, shape ``(steps, in, out)``) instead
of three modules per step: the masks are applied to every step in one multiplication, the optimiser updates a
handful of tensors, and the context enters all steps through one matrix product.

The forward direction costs one network pass per step. The inverse is exact and needs one pass per feature;
each pass updates the first-layer pre-activation with the feature just solved (a rank-one ``addmm``), evaluates
only the hidden units the next feature depends on (hidden units are sorted by degree, so these are a prefix of
each layer) and only the two output units that belong to that feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Flow

from ._checks import check_batch, check_context


def hidden_degrees(dim: int, hidden: Sequence[int]) -> list[torch.Tensor]:
    """Degrees of the hidden units of a MADE network: ``0..dim-2`` repeated evenly, sorted ascending.

    Sorting makes the masks block-triangular, so the units a given output needs form a prefix of each layer.
    """
    return [(torch.arange(width) % max(dim - 1, 1)).sort().values for width in hidden]


def made_masks(order: torch.Tensor, hidden: Sequence[int]) -> list[torch.Tensor]:
    """Build the connectivity masks of a MADE network for one autoregressive order.

    Args:
        order: ``(dim,)`` integer tensor, ``order[k]`` is the position of feature ``k`` in the autoregressive order
            (a permutation of ``0..dim-1``).
        hidden: Widths of the hidden layers.

    Returns:
        One boolean mask per layer, laid out like ``x @ W``, i.e. ``(in, out)``; the last one has ``2 * dim``
        columns (shifts then log-scales). Output ``i`` depends only on inputs ``k`` with ``order[k] < order[i]``.

    Example:
        >>> masks = made_masks(torch.tensor([0, 1, 2]), [4])
        >>> [tuple(m.shape) for m in masks]
        [(3, 4), (4, 6)]
        >>> (masks[0].int() @ masks[1].int())[:, :3] > 0  # which input reaches which shift
        tensor([[False,  True,  True],
                [False, False,  True],
                [False, False, False]])
    """
    dim = order.numel()
    degrees = [order.long(), *hidden_degrees(dim, hidden)]
    masks = [degrees[i][:, None] <= degrees[i + 1][None, :] for i in range(len(hidden))]
    masks.append(degrees[-1][:, None] < order.long().repeat(2)[None, :])
    return masks


class MaskedAutoregressiveFlow(Flow):
    """A stack of masked affine autoregressive steps sharing fused, stacked parameters.

    ``forward`` is the fast direction (one network pass per step); ``inverse`` is exact and costs ``dim`` cheap
    passes per step. Use :class:`~patchflow.flows.IAF` or :class:`~patchflow.flows.MAF` for ready-made stacks
    and :class:`MaskedAffineAutoregressive` for a single step.

    Args:
        dim: Number of features.
        orders: One autoregressive order per step (each a permutation of ``0..dim-1``).
        hidden: Widths of the hidden layers of every conditioner.
        context_dim: Size of an optional conditioning vector fed (unmasked) to every first layer.
        max_log_scale: Bound ``b`` of the soft-clamped log-scale of each step.
    """

    def __init__(
        self,
        dim: int,
        orders: Sequence[Sequence[int] | torch.Tensor],
        hidden: Sequence[int] = (64, 64),
        context_dim: int = 0,
        max_log_scale: float = 5.0,
    ) -> None:
        super().__init__(dim, context_dim)
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
        if len(orders) < 1:
            raise ValueError("a masked autoregressive flow needs at least one step")
        order_list = []
        for order in orders:
            order_t = torch.as_tensor(order, dtype=torch.long)
            if order_t.shape != (dim,) or not torch.equal(order_t.sort().values, torch.arange(dim)):
                raise ValueError(f"each order must be a permutation of 0..{dim - 1}, got {order_t.tolist()}")
            order_list.append(order_t)
        self.hidden = hidden
        self.n_steps = len(order_list)
        self.max_log_scale = float(max_log_scale)
        widths = [dim, *hidden, 2 * dim]
        self.n_layers = len(widths) - 1
        per_step_masks = [made_masks(order, hidden) for order in order_list]
        for layer in range(self.n_layers):
            self.register_parameter(
                f"weight{layer}", nn.Parameter(torch.empty(self.n_steps, widths[layer], widths[layer + 1]))
            )
            self.register_parameter(f"bias{layer}", nn.Parameter(torch.zeros(self.n_steps, widths[layer + 1])))
            mask = torch.stack([masks[layer] for masks in per_step_masks])
            self.register_buffer(f"mask{layer}", mask.to(torch.get_default_dtype()))
        self.context_weight = (
            nn.Parameter(torch.empty(self.n_steps, context_dim, hidden[0])) if context_dim else None
        )
        self.register_buffer("orders", torch.stack(order_list))
        # solve_orders[k, p] is the feature at autoregressive position p of step k.
        self.register_buffer("solve_orders", torch.argsort(self.orders, dim=1))
        self._solve_lists = [order.tolist() for order in self.solve_orders]  # plain ints: no sync, compiles
        # _prefix[l][p]: hidden units of layer l with degree < p, the only ones the feature at position p needs.
        self._prefix = [[int((deg < p).sum()) for p in range(dim)] for deg in hidden_degrees(dim, hidden)]
        self._cache: tuple[tuple, list[torch.Tensor]] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-initialise the conditioners; the last layers start small so each step is close to identity."""
        for k in range(self.n_steps):
            for layer in range(self.n_layers):
                weight = getattr(self, f"weight{layer}")
                nn.init.xavier_uniform_(weight.data[k].T)
                nn.init.zeros_(getattr(self, f"bias{layer}").data[k])
            if self.context_weight is not None:
                nn.init.xavier_uniform_(self.context_weight.data[k].T)
        self.weights_of(self.n_layers - 1).data.mul_(0.01)

    def weights_of(self, layer: int) -> nn.Parameter:
        """The stacked ``(steps, in, out)`` weight of one layer (unmasked)."""
        return getattr(self, f"weight{layer}")

    def raw_weights(self) -> list[torch.Tensor]:
        """The stacked weights of every layer before masking (overridden by the Bayesian variant)."""
        return [self.weights_of(layer) for layer in range(self.n_layers)]

    def masked_weights(self) -> list[torch.Tensor]:
        """The stacked masked weights of every layer; cached while autograd is off and no weight changed."""
        raw = self.raw_weights()
        if (
            torch.is_grad_enabled()
            or torch.jit.is_tracing()
            or torch.compiler.is_compiling()
            or any(not isinstance(w, nn.Parameter) for w in raw)
        ):
            return [w * getattr(self, f"mask{layer}") for layer, w in enumerate(raw)]
        key = tuple((w.data_ptr(), w._version, w.dtype) for w in raw)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, [w * getattr(self, f"mask{layer}") for layer, w in enumerate(raw)])
        return self._cache[1]

    def biases(self) -> list[torch.Tensor]:
        """The stacked ``(steps, out)`` biases of every layer."""
        return [getattr(self, f"bias{layer}") for layer in range(self.n_layers)]

    def first_layer_inputs(self, context: torch.Tensor | None) -> list[torch.Tensor]:
        """Per step, the first-layer bias plus the context's contribution (one matrix product for all steps)."""
        bias = self.biases()[0]
        if context is None or self.context_weight is None:
            return list(bias.unbind(0))
        weight = self.context_weight.permute(1, 0, 2).reshape(self.context_dim, -1)
        pre = torch.addmm(bias.reshape(-1), context, weight)
        return list(pre.split(self.hidden[0], dim=1))

    def transform(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward pass through every step without input checks."""
        d, bound = self.dim, self.max_log_scale
        layers = [w.unbind(0) for w in self.masked_weights()]
        biases = [b.unbind(0) for b in self.biases()]
        pres = self.first_layer_inputs(context)
        log_scale_sum = None
        for k in range(self.n_steps):
            h = torch.addmm(pres[k], x, layers[0][k]).relu_()
            for layer in range(1, self.n_layers - 1):
                h = torch.addmm(biases[layer][k], h, layers[layer][k]).relu_()
            out = torch.addmm(biases[-1][k], h, layers[-1][k])
            # s = b * tanh(o / 2) = b * (2 sigmoid(o) - 1): sigmoid is several times faster than tanh on CPU
            log_scale = torch.sigmoid(out[:, d:]).mul(2 * bound).sub_(bound)
            x = torch.addcmul(out[:, :d], x, torch.exp(log_scale))
            log_scale_sum = log_scale if log_scale_sum is None else log_scale_sum + log_scale
        return x, log_scale_sum.sum(dim=1)  # type: ignore[union-attr]

    def transform_inverse(
        self, y: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact inverse through every step (``dim`` passes each) without input checks."""
        d, bound = self.dim, self.max_log_scale
        layers = [w.unbind(0) for w in self.masked_weights()]
        biases = [b.unbind(0) for b in self.biases()]
        pres = self.first_layer_inputs(context)
        batch = y.shape[0]
        log_scales = []
        for k in reversed(range(self.n_steps)):
            first = layers[0][k]  # (dim, hidden[0]); row j is feature j's first-layer contribution
            # (dim, hidden[-1], 2): the shift and log-scale columns of each feature
            last = layers[-1][k].view(-1, 2, d).permute(2, 0, 1)
            last_bias = biases[-1][k].view(2, d).t()
            pre = pres[k].expand(batch, -1) if pres[k].dim() == 1 else pres[k]
            columns: list[torch.Tensor] = [y[:, 0]] * d
            for p, i in enumerate(self._solve_lists[k]):
                width = self._prefix[0][p]
                h = torch.relu(pre[:, :width])
                for layer in range(1, self.n_layers - 1):
                    previous, width = width, self._prefix[layer][p]
                    weight = layers[layer][k][:previous, :width]
                    h = torch.addmm(biases[layer][k][:width], h, weight).relu_()
                out = torch.addmm(last_bias[i], h, last[i][:width])
                s = torch.tanh(out[:, 1] * 0.5) * bound
                x_i = (y[:, i] - out[:, 0]) * torch.exp(-s)
                columns[i] = x_i
                log_scales.append(s)
                if p < d - 1:
                    pre = torch.addmm(pre, x_i[:, None], first[i : i + 1])
            y = torch.stack(columns, dim=1)
        return y, -torch.stack(log_scales, dim=1).sum(dim=1)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``x`` to ``(y, log|det J|)`` in one network pass per step."""
        check_batch(self, x, self.dim)
        return self.transform(x, check_context(self, context, self.context_dim, x.shape[0]))

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``y`` back to ``(x, log|det J^{-1}|)`` exactly, in ``dim`` passes per step."""
        check_batch(self, y, self.dim, name="y")
        return self.transform_inverse(y, check_context(self, context, self.context_dim, y.shape[0]))


class MaskedAffineAutoregressive(MaskedAutoregressiveFlow):
    """One affine autoregressive step ``y = x * exp(s(x)) + t(x)`` with a MADE conditioner.

    Used in the sampling direction it is one IAF step (Kingma et al., 2016); in the density direction one MAF
    step (Papamakarios et al., 2017).

    Args:
        dim: Number of features.
        hidden: Widths of the hidden layers of the conditioner.
        context_dim: Size of an optional conditioning vector.
        order: Autoregressive position of each feature (a permutation of ``0..dim-1``); ascending by default.
        max_log_scale: Bound of the soft-clamped log-scale.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> step = MaskedAffineAutoregressive(3, hidden=(8,))
        >>> x = torch.randn(2, 3)
        >>> y, logdet = step(x)
        >>> x_back, logdet_back = step.inverse(y)
        >>> torch.allclose(x, x_back, atol=1e-6), torch.allclose(logdet, -logdet_back, atol=1e-5)
        (True, True)
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (64, 64),
        context_dim: int = 0,
        order: Sequence[int] | torch.Tensor | None = None,
        max_log_scale: float = 5.0,
    ) -> None:
        order_t = torch.arange(dim) if order is None else torch.as_tensor(order)
        super().__init__(dim, [order_t], hidden=hidden, context_dim=context_dim, max_log_scale=max_log_scale)
