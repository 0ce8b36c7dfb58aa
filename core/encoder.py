"""The abstract encoder: audio features in, a fixed-size vector out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class Encoder(nn.Module, ABC):
    """Maps a batch of log-mel spectrograms ``(B, n_mels, frames)`` to features ``(B, out_features)``.

    Models build their heads (regressor, Gaussian posterior, flow context...) on top of an encoder, so swapping
    the encoder architecture never touches a model.

    Attributes:
        input_shape: ``(n_mels, frames)`` the encoder was built for.
        out_features: Size of the output vector.
    """

    def __init__(self, input_shape: tuple[int, int], out_features: int) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.out_features = int(out_features)

    @abstractmethod
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, n_mels, frames)`` into ``(B, out_features)``."""

    def check_input(self, mel: torch.Tensor) -> None:
        """Raise a clear ``ValueError`` if ``mel`` does not have the expected shape."""
        if mel.dim() != 3 or tuple(mel.shape[1:]) != self.input_shape:
            raise ValueError(f"{type(self).__name__} expects mels of shape (B, {self.input_shape[0]}, "
                             f"{self.input_shape[1]}), got {tuple(mel.shape)}")
