"""Encoders from log-mel spectrograms to feature vectors: a fully connected one, a (residual) 2-D CNN and a 1-D
convolution over time with the mel bands as channels."""

from __future__ import annotations

import torch
from torch import nn

from ..encoder import Encoder
from .blocks import ConvBlock, mlp


class MLPEncoder(Encoder):
    """Flattens the mel and applies ``layers`` fully connected blocks (ELU, batch norm, dropout).

    Args:
        input_shape: ``(n_mels, frames)``.
        hidden: Width of every layer (the output size).
        layers: Number of layers.
        batch_norm: Use batch normalisation.
        dropout: Dropout probability after each layer.
    """

    def __init__(self, input_shape: tuple[int, int], hidden: int, layers: int, *, batch_norm: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__(input_shape, hidden)
        self.net = mlp(input_shape[0] * input_shape[1], hidden, layers, batch_norm=batch_norm, dropout=dropout)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, n_mels, frames)`` into ``(B, hidden)``."""
        self.check_input(mel)
        return self.net(mel.flatten(1))


class ConvEncoder(Encoder):
    """Stride-2 dilated 2-D convolutions (layer ``l`` has dilation ``dilation_growth ** l``), flattened.

    Args:
        input_shape: ``(n_mels, frames)``.
        channels: Channels of every convolution.
        layers: Number of convolutions; each halves height and width (rounding up).
        kernel_size: Odd kernel size.
        dilation_growth: Base of the dilation schedule (1 disables dilation).
        residual: Add a strided 1x1 skip connection around each convolution (ResCNN).
        batch_norm: Use batch normalisation.
    """

    def __init__(self, input_shape: tuple[int, int], channels: int, layers: int, kernel_size: int, *,
                 dilation_growth: int = 2, residual: bool = False, batch_norm: bool = True) -> None:
        height, width = input_shape
        for _ in range(layers):
            height, width = (height + 1) // 2, (width + 1) // 2
        super().__init__(input_shape, channels * height * width)
        self.feature_shape = (channels, height, width)
        self.net = nn.Sequential(*[
            ConvBlock(1 if layer == 0 else channels, channels, kernel_size, dilation_growth ** layer,
                      residual=residual, batch_norm=batch_norm)
            for layer in range(layers)
        ])

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, n_mels, frames)`` into ``(B, channels * h * w)``."""
        self.check_input(mel)
        return self.net(mel.unsqueeze(1)).flatten(1)


class MelSequenceEncoder(Encoder):
    """Stride-2 1-D convolutions over time, the mel bands being the input channels, then flattened.

    Each convolution (batch norm, ELU) halves the frames (rounding up). The first layer sees every mel band of a
    few frames at once, so partials keep their full frequency resolution, and the cost per item is a few million
    multiply-adds.

    Args:
        input_shape: ``(n_mels, frames)``.
        channels: Channels of every convolution.
        layers: Number of convolutions.
        kernel_size: Odd kernel size (frames).
        batch_norm: Use batch normalisation.
    """

    def __init__(self, input_shape: tuple[int, int], channels: int, layers: int, kernel_size: int, *,
                 batch_norm: bool = True) -> None:
        n_mels, frames = input_shape
        for _ in range(layers):
            frames = (frames + 1) // 2
        super().__init__(input_shape, channels * frames)
        self.feature_shape = (channels, frames)
        modules: list[nn.Module] = []
        for layer in range(layers):
            modules += [nn.Conv1d(n_mels if layer == 0 else channels, channels, kernel_size, stride=2,
                                  padding=kernel_size // 2),
                        nn.BatchNorm1d(channels) if batch_norm else nn.Identity(), nn.ELU()]
        self.net = nn.Sequential(*modules)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, n_mels, frames)`` into ``(B, channels * frames_out)``."""
        self.check_input(mel)
        return self.net(mel).flatten(1)
