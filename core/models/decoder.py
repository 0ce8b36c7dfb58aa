"""The convolutional decoders of the auto-encoders: latent code to log-mel spectrogram."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import UpConvBlock


class ConvDecoder(nn.Module):
    """Mirror of :class:`~patchflow.models.encoders.ConvEncoder`: a linear layer to the encoder's last feature
    map, then stride-2 transposed convolutions back to ``(n_mels, frames)`` (cropped to size).

    Args:
        latent_dim: Size of the latent code.
        output_shape: ``(n_mels, frames)`` to produce.
        feature_shape: ``(channels, h, w)`` of the matching encoder's last feature map.
        kernel_size: Odd kernel size.
        batch_norm: Use batch normalisation.
    """

    def __init__(self, latent_dim: int, output_shape: tuple[int, int], feature_shape: tuple[int, int, int],
                 kernel_size: int, *, layers: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.feature_shape = tuple(feature_shape)
        channels = feature_shape[0]
        self.project = nn.Linear(latent_dim, channels * feature_shape[1] * feature_shape[2])
        self.net = nn.Sequential(*[
            UpConvBlock(channels, 1 if layer == layers - 1 else channels, kernel_size, last=layer == layers - 1,
                        batch_norm=batch_norm)
            for layer in range(layers)
        ])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``(B, latent_dim)`` into mels ``(B, n_mels, frames)``."""
        h = self.project(z).view(z.shape[0], *self.feature_shape)
        out = self.net(h).squeeze(1)
        return out[:, : self.output_shape[0], : self.output_shape[1]]


class SequenceDecoder(nn.Module):
    """Mirror of :class:`~patchflow.models.encoders.MelSequenceEncoder`: a linear layer to the encoder's last
    feature sequence, then stride-2 1-D transposed convolutions over time, the last one with the mel bands as its
    channels (cropped to ``frames``).

    Args:
        latent_dim: Size of the latent code.
        output_shape: ``(n_mels, frames)`` to produce.
        feature_shape: ``(channels, frames)`` of the matching encoder's last feature sequence.
        kernel_size: Odd kernel size (frames).
        batch_norm: Use batch normalisation.
    """

    def __init__(self, latent_dim: int, output_shape: tuple[int, int], feature_shape: tuple[int, int],
                 kernel_size: int, *, layers: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.feature_shape = tuple(feature_shape)
        channels, n_mels = feature_shape[0], output_shape[0]
        self.project = nn.Linear(latent_dim, channels * feature_shape[1])
        modules: list[nn.Module] = []
        for layer in range(layers):
            last = layer == layers - 1
            modules.append(nn.ConvTranspose1d(channels, n_mels if last else channels, kernel_size, stride=2,
                                              padding=kernel_size // 2, output_padding=1))
            if not last:
                modules += [nn.BatchNorm1d(channels) if batch_norm else nn.Identity(), nn.ELU()]
        self.net = nn.Sequential(*modules)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``(B, latent_dim)`` into mels ``(B, n_mels, frames)``."""
        h = self.project(z).view(z.shape[0], *self.feature_shape)
        return self.net(h)[:, :, : self.output_shape[1]]
