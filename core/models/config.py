"""Model hyperparameters: one pydantic config for every built-in model, with the paper's sizes as defaults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Size presets: ``paper`` keeps the defaults (GPU scale), ``small`` trains on 2 CPU cores in minutes, ``cpu`` is
#: the CPU recipe of the quality table (``small``'s sizes, grids of up to 100 values classified, reconstruction and
#: KL weighed down, the 1-D sequence encoder, a 25-minute budget: see the training guide).
SizePreset = Literal["paper", "small", "cpu"]

SMALL_SIZES: dict[str, object] = {
    "mlp_layers": 3,
    "mlp_hidden": 256,
    "conv_layers": 4,
    "conv_channels": 32,
    "kernel_size": 5,
    "dilation_growth": 1,
    "head_layers": 2,
    "head_hidden": 128,
    "regressor_hidden": 64,
    "flow_steps": 4,
    "posterior_flow_steps": 4,
    "flow_hidden": (32, 32),
}

#: The ``cpu`` preset: ``small``'s sizes, plus these (the auto-encoders on the 1-D sequence encoder).
CPU_SIZES: dict[str, object] = {**SMALL_SIZES, "classify_steps": 100, "recon_weight": 0.01, "ae_encoder": "sequence"}


class ModelConfig(BaseModel):
    """Architecture of a model. Data-dependent fields (``n_params``, ``input_shape``, ``cardinalities``,
    ``n_tags``) are filled from the dataset store by the trainer.

    Attributes:
        name: Registered model name (see ``patchflow models``).
        n_params: Number of learned parameters ``P``.
        input_shape: ``(n_mels, frames)`` of the input mels.
        cardinalities: Per learned parameter, its number of classes (0 for continuous ones). Empty means all
            continuous.
        n_tags: Number of tag pairs (used by ``flow_dis``).
        mlp_layers: Linear layers of the MLP baseline, output layer included (paper: 5).
        mlp_hidden: Width of those layers (paper: 2048).
        dropout: Dropout after each hidden MLP layer (paper: 0.3).
        batch_norm: Batch normalisation in encoders and MLPs.
        conv_layers: Convolution layers of the CNN encoders (paper: 5).
        conv_channels: Channels of the baseline CNN (paper: 128); auto-encoders use ``ae_width`` of it.
        kernel_size: Convolution kernel size (paper: 7).
        dilation_growth: Layer ``l`` uses dilation ``dilation_growth ** l`` (paper: 2).
        head_layers: Linear layers of the MLP after the baseline CNN, output layer included (paper: 3).
        head_hidden: Width of that MLP.
        ae_width: Fraction of ``conv_channels`` used by auto-encoder encoders and decoders (paper: 0.5).
        latent_dim: Latent size; ``None`` means ``n_params`` (required by the regression flow).
        latent_head_layers: Hidden layers (``head_hidden`` units, batch norm, ELU, ``dropout``) between the
            auto-encoders' encoder and their posterior (0: a linear map from the encoder's features, as before).
        regressor_hidden: Hidden width of the 2-layer MLP from the latent to the parameters.
        posterior_flow_steps: IAF steps of the flow posterior (``vae_flow`` and the flow models; paper: 16).
        flow_steps: Steps of the regression and disentangling flows (paper: 16).
        flow_hidden: Hidden layers of each flow step's autoregressive network.
        regression_logdet_weight: Weight of the regression flow's log-determinant term in its negative
            log-likelihood. 1 is the paper's posterior-KL term, but on a point regression ``z -> v`` it rewards an
            expanding map and measured far worse parameter errors (see the training guide), so the default is 0:
            the precision-weighted error only.
        regression_inverse_weight: Weight of the regression flow's inverse error, the squared distance of the
            parameters' codes ``f^{-1}(v)`` to the latents (the two-way objective; 0 trains ``f`` one way only).
        mmd_weight: Weight of the MMD term of ``wae``.
        flow_kl_weight: Weight of the KL on the amortised flow weights of ``flow_cond``.
        dis_weight: Weight of the disentangling loss of ``flow_dis``.
        recon_weight: Weight of the auto-encoders' reconstruction term (summed over every mel bin, it outweighs a
            few parameters' likelihood by orders of magnitude at 1, the paper's setting).
        latent_regulariser: ``kl`` keeps each model's own regulariser; ``avb`` replaces the KL term of a KL model
            (``vae``, ``vae_flow``, ``flow_post``, ``flow_cond``, ``flow_dis``) by Adversarial Variational Bayes: an
            implicit posterior and a discriminator trained in a second step (``vae_avb`` always uses it).
        avb_noise_dim: Size of the noise the implicit posterior of AVB takes beside the mel (0: the latent
            size).
        avb_hidden: Hidden width of AVB's noise network and of its discriminator ``T(x, z)`` (0: that of
            the regressor, ``regressor_hidden``).
        avb_lr_scale: The discriminator's learning rate as a multiple of the run's.
        ae_encoder: Encoder and decoder of the auto-encoder models (``ae``, ``vae``, ``wae``, ``vae_avb``,
            ``vae_flow`` and the flow models): ``conv2d``, the paper's 2-D CNN with ``ae_width * conv_channels``
            channels, or ``sequence``, 1-D convolutions over time with the mel bands as input channels and
            ``4 * conv_channels`` channels (the encoder of ``flow_gen``; ``flow_post`` trains about 2.5 times
            faster on it on a CPU).
        classify_steps: Classify every continuous parameter whose grid has at most this many values (DX7
            frequency ratios, transposition, and at 100 its fine frequencies and levels) instead of regressing it,
            so a prediction is one of its values, not the average of several (0: never). Where most voices share
            one value (a fine frequency of 0, a pitch-envelope level of 50) a regressor's average misses it every
            time and the sound goes out of tune; the classifier answers it. Filled into ``cardinalities`` at
            training time.
        options: Free-form settings for models contributed by plugins.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "flow_post"
    n_params: int = Field(16, ge=1)
    input_shape: tuple[int, int] = (128, 87)
    cardinalities: list[int] = Field(default_factory=list)
    n_tags: int = Field(0, ge=0)
    mlp_layers: int = Field(5, ge=2)
    mlp_hidden: int = Field(2048, ge=1)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    batch_norm: bool = True
    conv_layers: int = Field(5, ge=1)
    conv_channels: int = Field(128, ge=1)
    kernel_size: int = Field(7, ge=1)
    dilation_growth: int = Field(2, ge=1)
    head_layers: int = Field(3, ge=1)
    head_hidden: int = Field(1024, ge=1)
    ae_width: float = Field(0.5, gt=0.0)
    latent_dim: int | None = Field(None, ge=1)
    latent_head_layers: int = Field(0, ge=0)
    regressor_hidden: int = Field(1024, ge=1)
    posterior_flow_steps: int = Field(16, ge=0)
    flow_steps: int = Field(16, ge=1)
    flow_hidden: tuple[int, ...] = (64, 64)
    regression_logdet_weight: float = Field(0.0, ge=0.0)
    regression_inverse_weight: float = Field(0.0, ge=0.0)
    mmd_weight: float = Field(10.0, ge=0.0)
    flow_kl_weight: float = Field(1e-3, ge=0.0)
    dis_weight: float = Field(1.0, ge=0.0)
    recon_weight: float = Field(1.0, ge=0.0)
    latent_regulariser: Literal["kl", "avb"] = "kl"
    avb_noise_dim: int = Field(0, ge=0)
    avb_hidden: int = Field(0, ge=0)
    avb_lr_scale: float = Field(1.0, gt=0.0)
    ae_encoder: Literal["conv2d", "sequence"] = "conv2d"
    classify_steps: int = Field(0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.cardinalities and len(self.cardinalities) != self.n_params:
            raise ValueError(f"cardinalities has {len(self.cardinalities)} entries for {self.n_params} parameters")
        if any(c == 1 or c < 0 for c in self.cardinalities):
            raise ValueError("a categorical parameter needs at least 2 classes (0 marks a continuous one)")
        return self

    @property
    def param_cardinalities(self) -> list[int]:
        """Cardinality per learned parameter (0 for continuous), all continuous if none were given."""
        return list(self.cardinalities) or [0] * self.n_params

    @property
    def sequence_channels(self) -> int:
        """Channels of the 1-D sequence encoders (``4 * conv_channels``)."""
        return 4 * self.conv_channels

    @property
    def latent_size(self) -> int:
        """The latent dimension actually used (``latent_dim`` or ``n_params``)."""
        return self.latent_dim or self.n_params

    @property
    def ae_channels(self) -> int:
        """Channels of the auto-encoders' convolutions."""
        return max(1, round(self.conv_channels * self.ae_width))

    def with_preset(self, preset: SizePreset) -> "ModelConfig":
        """A copy with the sizes of ``preset`` (``paper`` returns the config unchanged)."""
        if preset == "paper":
            return self.model_copy()
        if preset == "small":
            return self.model_copy(update=SMALL_SIZES)
        if preset == "cpu":
            return self.model_copy(update=CPU_SIZES)
        raise ValueError(f"unknown size preset {preset!r}; choose 'paper' or 'small'")
