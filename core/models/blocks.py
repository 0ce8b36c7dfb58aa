"""Layers shared by the models: MLP stacks, convolution blocks, Xavier initialisation, and the full-precision
region of mixed-precision training."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import nn


def full_precision(like: torch.Tensor) -> AbstractContextManager[None]:
    """Suspend autocast on the device of ``like``: what runs inside computes in float32.

    Mixed precision (``torch.autocast``) suits the convolutions, but the flows refuse inputs of another dtype than
    their parameters, and log-determinants and likelihoods need float32's range, so the models run their flows and
    probabilistic heads inside this region on float32 inputs.
    """
    return torch.autocast(like.device.type, enabled=False)


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if autocast left it in a lower precision (a float64 model stays in float64)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def mlp(in_features: int, hidden: int, layers: int, *, batch_norm: bool = True,
        dropout: float = 0.0) -> nn.Sequential:
    """``layers`` blocks of Linear -> (BatchNorm) -> ELU -> (Dropout); output size ``hidden``."""
    modules: list[nn.Module] = []
    size = in_features
    for _ in range(layers):
        modules.append(nn.Linear(size, hidden))
        if batch_norm:
            modules.append(nn.BatchNorm1d(hidden))
        modules.append(nn.ELU())
        if dropout > 0:
            modules.append(nn.Dropout(dropout))
        size = hidden
    return nn.Sequential(*modules)


class ConvBlock(nn.Module):
    """A stride-2 dilated 2-D convolution with batch norm and ELU, optionally residual.

    The padding keeps ``ceil(size / 2)`` whatever the dilation, so shapes are easy to mirror in a decoder.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, *,
                 residual: bool = False, batch_norm: bool = True) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=2, padding=padding, dilation=dilation)
        self.norm = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.act = nn.ELU()
        self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=2) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.act(self.norm(self.conv(x)))
        return y + self.skip(x) if self.skip is not None else y


class UpConvBlock(nn.Module):
    """A stride-2 transposed convolution that exactly doubles height and width (batch norm and ELU unless last)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, last: bool = False,
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2,
                                       output_padding=1)
        self.post = nn.Identity() if last else nn.Sequential(
            nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity(), nn.ELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.post(self.conv(x))


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every linear and convolution layer of ``module``.

    Normalizing flows (:class:`patchflow.flow.Flow`) keep their own initialisation, which usually starts them
    near the identity.
    """
    from ..flow import Flow

    if isinstance(module, Flow) or type(module).__module__.startswith("patchflow.flows"):
        return
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    for child in module.children():
        xavier_init(child)
