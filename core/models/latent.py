"""Auto-encoder models: a CNN encoder and decoder around a latent space of the size of the parameter set, and a
way from the latent to the parameters.

``ae`` (no regularisation), ``vae`` (KL), ``wae`` (MMD), ``vae_avb`` (an implicit posterior with a KL estimated by
a discriminator, Adversarial Variational Bayes: :mod:`patchflow.models.avb`) and ``vae_flow`` (VAE with an IAF
posterior) use a 2-layer MLP regressor from the latent. Reconstruction is a unit-variance Gaussian log-likelihood
of the normalised mel (half the squared error, summed over bins); every term is summed per sample and averaged
over the batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..model import TrainingStep
from .avb import DISC_STEP, AVBRegulariser
from .base import ConfiguredModel
from .blocks import at_least_float32, full_precision, mlp, xavier_init
from .config import ModelConfig
from .decoder import ConvDecoder, SequenceDecoder
from .encoders import ConvEncoder, MelSequenceEncoder
from .layout import ParamHead

_LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last dimension."""
    return -0.5 * (z ** 2 + _LOG_2PI).sum(dim=-1)


def imq_mmd(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD estimate between two samples with the inverse multiquadratic kernels of the WAE paper
    (scales ``C = 2 d s`` for ``s`` in 0.1 ... 10)."""
    n, dim = z.shape
    if n < 2:
        return z.new_zeros(())
    both = torch.cat([z, prior])
    dist = torch.cdist(both, both) ** 2
    off_diag = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    total = z.new_zeros(())
    for scale in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        kernel = (2.0 * dim * scale) / (2.0 * dim * scale + dist)
        k_zz, k_pp, k_zp = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
        total = total + ((k_zz * off_diag).sum() + (k_pp * off_diag).sum()) / (n * (n - 1)) - 2 * k_zp.mean()
    return total


class LatentModel(ConfiguredModel):
    """Shared machinery of the auto-encoder models (subclasses choose the regulariser and the regressor).

    A model whose regulariser is ``kl`` runs with AVB instead (an implicit posterior, the KL estimated by a
    discriminator in a second training step) when its config says ``latent_regulariser="avb"``; ``vae_avb`` always
    does.

    Attributes:
        regulariser: ``none`` (AE), ``kl`` (VAE), ``mmd`` (WAE), ``avb`` (the instance's, after the config).
        posterior_flow_steps: IAF steps after the Gaussian posterior (0 for none).
        avb: The implicit posterior and discriminator of AVB (``None`` for other regularisers).
    """

    regulariser = "kl"
    use_posterior_flow = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        if config.latent_regulariser == "avb" and self.regulariser != "avb":
            if self.regulariser != "kl":
                raise ValueError(f"latent_regulariser='avb' replaces a KL term; {config.name} has "
                                 f"{self.regulariser!r} instead")
            self.regulariser = "avb"
        self.latent_dim = config.latent_size
        # the encoder and its mirror as the decoder (built below, once the latent's size is known)
        if config.ae_encoder == "sequence":
            self.encoder: ConvEncoder | MelSequenceEncoder = MelSequenceEncoder(
                config.input_shape, config.sequence_channels, config.conv_layers, config.kernel_size,
                batch_norm=config.batch_norm)
            decoder: type[ConvDecoder] | type[SequenceDecoder] = SequenceDecoder
        else:
            self.encoder = ConvEncoder(config.input_shape, config.ae_channels, config.conv_layers,
                                       config.kernel_size, dilation_growth=config.dilation_growth,
                                       batch_norm=config.batch_norm)
            decoder = ConvDecoder
        # hidden layers between the encoder's features and the posterior (none: a linear map, the paper's)
        self.latent_head = mlp(self.encoder.out_features, config.head_hidden, config.latent_head_layers,
                               batch_norm=config.batch_norm, dropout=config.dropout)
        features = config.head_hidden if config.latent_head_layers else self.encoder.out_features
        self.avb = None
        if self.regulariser == "avb":
            self.to_mean = None  # the implicit posterior has its own map from the features
            self.avb = AVBRegulariser(features, self.latent_dim, config.avb_noise_dim or self.latent_dim,
                                      config.avb_hidden or config.regressor_hidden)
        else:
            self.to_mean = nn.Linear(features, self.latent_dim)
        self.to_logvar = nn.Linear(features, self.latent_dim) if self.regulariser == "kl" else None
        self.decoder = decoder(self.latent_dim, config.input_shape,
                               self.encoder.feature_shape,  # type: ignore[arg-type]
                               config.kernel_size, layers=config.conv_layers, batch_norm=config.batch_norm)
        self.posterior_flow = None
        if self.use_posterior_flow and config.posterior_flow_steps > 0:
            from patchflow.flows import IAF

            self.posterior_flow = IAF(self.latent_dim, steps=config.posterior_flow_steps,
                                      hidden=tuple(config.flow_hidden))
        self.build_regressor()
        xavier_init(self)

    # ------------------------------------------------------------------------------------ regressor (overridable)
    def build_regressor(self) -> None:
        """Create the map from the latent to the parameters: a 2-layer MLP with a parameter head."""
        self.regressor = nn.Sequential(nn.Linear(self.latent_dim, self.config.regressor_hidden), nn.ELU())
        self.head = ParamHead(self.config.regressor_hidden, self.config.param_cardinalities)

    def params_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-sample terms ``(B,)`` of ``-log p(v | z)``; the key ``params`` is required."""
        return {"params": self.head.loss(self.regressor(z), batch["params"], batch["classes"])}

    def params_from_latent(self, z: torch.Tensor, *, classify: bool = True) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]`` for latent codes (``classify`` only matters to invertible models)."""
        return self.head.predict(self.regressor(z))

    def extra_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Further per-sample or scalar loss terms (the disentangling flow adds one)."""
        return {}

    # ---------------------------------------------------------------------------------- training steps (AVB)
    def training_steps(self) -> list[TrainingStep]:
        """One step, or with AVB two: ``main`` (all but the discriminator) minimises :meth:`loss`, ``disc``
        trains the discriminator ``T(x, z)`` (learning rate ``avb_lr_scale`` times the run's)."""
        if self.avb is None:
            return super().training_steps()
        disc = tuple(self.avb.discriminator.parameters())
        ids = {id(p) for p in disc}
        return [TrainingStep("main", tuple(p for p in self.parameters() if id(p) not in ids)),
                TrainingStep(DISC_STEP, disc, self.config.avb_lr_scale)]

    def step_loss(self, step: str, batch: dict[str, torch.Tensor], *, beta: float = 1.0
                  ) -> dict[str, torch.Tensor]:
        """With AVB, ``disc``: the discriminator's logistic loss on posterior samples (the encoder and the
        posterior flow run without gradients) against prior samples for the same mels, and its ``E_q[T]``."""
        if self.avb is None or step != DISC_STEP:
            return super().step_loss(step, batch, beta=beta)
        with torch.no_grad():
            h = self.features(batch["mel"])
            with full_precision(h):
                z = self.avb.sample(h)
                if self.posterior_flow is not None:
                    z, _ = self.posterior_flow(z)
        with full_precision(h):
            return self.avb.discriminator_terms(h, z)

    # --------------------------------------------------------------------------------------------- latent
    def features(self, mel: torch.Tensor) -> torch.Tensor:
        """What the posterior is computed from: the encoder's features, through the latent head if any, at least
        in float32 (the rest of the latent path runs in full precision under autocast)."""
        return at_least_float32(self.latent_head(self.encoder(mel)))

    def posterior(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean and log-variance (``None`` for deterministic encoders) of ``q(z0 | x)``; with AVB, whose
        posterior has neither in closed form, the code of the noise's mode ``z_phi(x, 0)`` and ``None``."""
        h = self.features(mel)
        with full_precision(h):
            if self.avb is not None:
                return self.avb.mode(h), None
            return self.to_mean(h), (self.to_logvar(h).clamp(-12.0, 8.0) if self.to_logvar is not None else None)

    def sample_latent(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A latent sample ``z`` and the per-sample (or scalar, for MMD) regulariser of a batch (with AVB, the
        discriminator's KL estimate ``T(x, z)``)."""
        if self.avb is not None:
            h = self.features(mel)
            with full_precision(h):
                z = self.avb.sample(h)
                if self.posterior_flow is not None:
                    z, _ = self.posterior_flow(z)
                return z, self.avb.kl_estimate(h, z)
        mean, logvar = self.posterior(mel)
        with full_precision(mean):
            return self._sample_posterior(mean, logvar)

    def _sample_posterior(self, mean: torch.Tensor, logvar: torch.Tensor | None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        if logvar is None:
            if self.regulariser == "mmd":
                return mean, imq_mmd(mean, torch.randn_like(mean))
            return mean, mean.new_zeros(mean.shape[0])
        std = torch.exp(0.5 * logvar)
        z0 = mean + std * torch.randn_like(std)
        if self.posterior_flow is None:
            kl = 0.5 * (mean ** 2 + std ** 2 - 1.0 - logvar).sum(dim=1)
            return z0, kl
        log_q0 = (-0.5 * (((z0 - mean) / std) ** 2 + logvar + _LOG_2PI)).sum(dim=1)
        z, logdet = self.posterior_flow(z0)
        return z, log_q0 - logdet - standard_normal_log_prob(z)

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Latent code of a batch of mels: the posterior mean, pushed through the posterior flow if any."""
        mean, _ = self.posterior(mel)
        if self.posterior_flow is not None:
            with full_precision(mean):
                mean, _ = self.posterior_flow(mean)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised mels ``(B, n_mels, frames)`` for latent codes."""
        return self.decoder(z)

    # ----------------------------------------------------------------------------------------------- losses
    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """``recon_weight * recon + beta * regulariser + params (+ model-specific terms)``, each summed per sample
        and averaged over the batch."""
        mel = batch["mel"]
        z, reg = self.sample_latent(mel)
        recon = 0.5 * self.config.recon_weight * ((self.decoder(z) - mel) ** 2).flatten(1).sum(dim=1)
        weight = self.config.mmd_weight if self.regulariser == "mmd" else 1.0
        terms = {"recon": recon.mean(), "reg": weight * reg.mean()}
        with full_precision(z):
            terms.update({k: v.mean() for k, v in self.params_loss(z, batch).items()})
            terms.update({k: v.mean() for k, v in self.extra_loss(z, batch).items()})
        total = sum(v for k, v in terms.items() if k != "reg") + beta * terms["reg"]
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def predict_params(self, mel: torch.Tensor) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]`` from the latent code of each mel."""
        z = self.encode(mel)
        with full_precision(z):
            return self.params_from_latent(z)


class AEModel(LatentModel):
    """Deterministic auto-encoder with an MLP regressor from the latent."""

    regulariser = "none"


class VAEModel(LatentModel):
    """Variational auto-encoder with an MLP regressor from the latent."""

    regulariser = "kl"


class AVBModel(LatentModel):
    """VAE with an implicit posterior ``q(z | x, eps)`` and a KL term estimated by a discriminator ``T(x, z)``
    (Adversarial Variational Bayes), with an MLP regressor from the latent; :meth:`encode` gives ``z_phi(x, 0)``."""

    regulariser = "avb"


class WAEModel(LatentModel):
    """Wasserstein auto-encoder (MMD to the prior) with an MLP regressor from the latent."""

    regulariser = "mmd"


class VAEFlowModel(LatentModel):
    """VAE whose posterior is refined by an inverse autoregressive flow, with an MLP regressor."""

    regulariser = "kl"
    use_posterior_flow = True
