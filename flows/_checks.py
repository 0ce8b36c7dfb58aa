"""Input validation shared by every flow: clear errors for wrong shapes, dtypes and devices."""

from __future__ import annotations

import torch
from torch import nn


def reference_tensor(module: nn.Module) -> torch.Tensor | None:
    """Return the first parameter or buffer of ``module`` (gives its dtype and device), or ``None``."""
    for tensor in module.parameters():
        return tensor
    for tensor in module.buffers():
        if tensor.is_floating_point():
            return tensor
    return None


def check_batch(module: nn.Module, x: object, dim: int, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a floating ``(B, dim)`` tensor matching the module's dtype and device.

    Args:
        module: The flow receiving ``x``; its parameters fix the expected dtype and device.
        x: The input to check.
        dim: The expected number of features.
        name: The argument name used in error messages.

    Returns:
        ``x`` unchanged.

    Raises:
        TypeError: ``x`` is not a floating-point tensor, or its dtype differs from the module's.
        ValueError: ``x`` is not of shape ``(B, dim)`` or lives on another device.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, {dim}), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; convert it with .float()")
    if x.dim() != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (batch, {dim}), got {tuple(x.shape)}")
    ref = reference_tensor(module)
    if ref is not None:
        if x.dtype != ref.dtype:
            raise TypeError(
                f"{name} has dtype {x.dtype} but the flow's parameters are {ref.dtype}; "
                f"convert one of them (x.to({ref.dtype}) or flow.to({x.dtype}))"
            )
        if x.device != ref.device:
            raise ValueError(f"{name} is on {x.device} but the flow is on {ref.device}; move one with .to(device)")
    return x


def check_context(module: nn.Module, context: object, context_dim: int, batch: int) -> torch.Tensor | None:
    """Check the conditioning vector of a flow.

    Args:
        module: The flow receiving the context.
        context: ``None`` for unconditional flows, else a ``(batch, context_dim)`` tensor.
        context_dim: The flow's context dimension (0 when unconditional).
        batch: The batch size of the samples the context goes with.

    Returns:
        The context, or ``None``.

    Raises:
        TypeError: Context given to an unconditional flow, or of the wrong dtype.
        ValueError: Context missing for a conditional flow, or of the wrong shape.
    """
    if context_dim == 0:
        if context is not None:
            raise TypeError("this flow is unconditional (context_dim=0) but a context was given")
        return None
    if context is None:
        raise ValueError(f"this flow is conditional: pass a context of shape (batch, {context_dim})")
    check_batch(module, context, context_dim, name="context")
    if context.shape[0] != batch:
        raise ValueError(f"context has batch size {context.shape[0]} but the samples have {batch}")
    return context
