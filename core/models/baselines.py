"""The paper's baselines: regress parameters directly from the mel with an MLP, a CNN or a residual CNN."""

from __future__ import annotations

import torch

from ..encoder import Encoder
from .base import ConfiguredModel
from .blocks import mlp, xavier_init
from .config import ModelConfig
from .encoders import ConvEncoder, MLPEncoder
from .layout import ParamHead


class DirectRegressor(ConfiguredModel):
    """An encoder followed by a parameter head (sigmoid outputs, cross-entropy for categorical parameters)."""

    def __init__(self, config: ModelConfig, encoder: Encoder, head_layers: int, head_hidden: int) -> None:
        super().__init__(config)
        self.encoder = encoder
        self.trunk = mlp(encoder.out_features, head_hidden, head_layers, batch_norm=config.batch_norm,
                         dropout=config.dropout) if head_layers else torch.nn.Identity()
        self.head = ParamHead(head_hidden if head_layers else encoder.out_features, config.param_cardinalities)
        xavier_init(self)

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Mean over the batch of the summed parameter errors."""
        per_sample = self.head.loss(self.trunk(self.encoder(batch["mel"])), batch["params"], batch["classes"])
        loss = per_sample.mean()
        return {"loss": loss, "params": loss.detach()}

    def predict_params(self, mel: torch.Tensor) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]``."""
        return self.head.predict(self.trunk(self.encoder(mel)))


class MLPModel(DirectRegressor):
    """MLP baseline: fully connected layers (ELU, batch norm, dropout) from the flattened mel to the parameters."""


    def __init__(self, config: ModelConfig) -> None:
        encoder = MLPEncoder(config.input_shape, config.mlp_hidden, config.mlp_layers - 1,
                             batch_norm=config.batch_norm, dropout=config.dropout)
        super().__init__(config, encoder, head_layers=0, head_hidden=config.mlp_hidden)


class CNNModel(DirectRegressor):
    """CNN baseline: dilated stride-2 convolutions then an MLP to the parameters."""

    residual = False

    def __init__(self, config: ModelConfig) -> None:
        encoder = ConvEncoder(config.input_shape, config.conv_channels, config.conv_layers, config.kernel_size,
                              dilation_growth=config.dilation_growth, residual=self.residual,
                              batch_norm=config.batch_norm)
        super().__init__(config, encoder, head_layers=config.head_layers - 1, head_hidden=config.head_hidden)


class ResCNNModel(CNNModel):
    """Residual CNN baseline: the CNN with a strided 1x1 skip connection around each convolution."""

    residual = True
