"""UNIT-style spectrogram translation ("Spec2Spec", seed 003; Liu, Breuel and Kautz 2017): two domains of
log-mels, A (recordings) and B (a synth's renders), without paired data.

Each domain has an encoder ``E_A`` / ``E_B`` and a generator ``G_A`` / ``G_B``; the encoders' last layer and the
generators' first layer are shared, so both domains are coded in one latent space. The posterior of a code is a
Gaussian ``q(z | x) = N(mu(x), diag(exp(logvar(x))))`` (a map of ``zc`` channels at a quarter of the mel's size),
the prior ``p(z) = N(0, I)``. A mel translates A -> B as ``G_B(z)`` with ``z ~ q_A(z | x_A)``, B -> A as
``G_A(z)`` with ``z ~ q_B(z | x_B)``. A discriminator per domain (``D_A``, ``D_B``, patch logits) tells real mels
from translated ones.

The generators' and encoders' step minimises (every term a mean over the batch and its elements; reconstruction is
the L1 distance, the negative log-likelihood of a Laplace decoder up to constants)::

    L_VAE_X = lambda_1 KL(q_X(z | x_X) || p(z)) + lambda_2 |G_X(z_X) - x_X|
    L_GAN   = lambda_0 [ BCE(D_B(G_B(z_A)), 1) + BCE(D_A(G_A(z_B)), 1) ]          (non-saturating)
    L_CC_A  = lambda_3 KL(q_A(z | x_A)) + lambda_3 KL(q_B(z | x_A->B)) + lambda_4 |G_A(z_AB) - x_A|
    L_CC_B  = lambda_3 KL(q_B(z | x_B)) + lambda_3 KL(q_A(z | x_B->A)) + lambda_4 |G_B(z_BA) - x_B|

and the discriminators' step ``lambda_0 [BCE(D_X(x_X), 1) + BCE(D_X(x_Y->X), 0)]`` for X in A, B, on translated
mels detached from the generators. The two are :class:`~patchflow.model.TrainingStep` ``gen`` and ``disc``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PatchflowError
from ..model import TrainingStep

GEN_STEP, DISC_STEP = "gen", "disc"
#: Down-sampling factor of the encoders (two stride-2 convolutions); mels are padded to a multiple of it.
FACTOR = 4


class UnitConfigError(PatchflowError):
    """A translation model's settings are not usable."""


@dataclass
class UnitConfig:
    """Sizes and loss weights of a :class:`UnitTranslator`.

    Attributes:
        input_shape: ``(n_mels, frames)`` of both domains' mels.
        channels: Width of the first convolution (the next ones are twice as wide).
        latent_channels: Channels of the shared latent map.
        disc_channels: Width of the discriminators' first convolution.
        lambdas: ``lambda_0`` (GAN), ``lambda_1`` (KL of L_VAE), ``lambda_2`` (reconstruction of L_VAE),
            ``lambda_3`` (KL of L_CC), ``lambda_4`` (cycle reconstruction of L_CC).
    """

    input_shape: tuple[int, int] = (128, 87)
    channels: int = 16
    latent_channels: int = 16
    disc_channels: int = 16
    lambdas: tuple[float, float, float, float, float] = field(default=(1.0, 0.01, 10.0, 0.01, 10.0))

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)  # type: ignore[assignment]
        self.lambdas = tuple(float(v) for v in self.lambdas)  # type: ignore[assignment]
        if len(self.input_shape) != 2 or min(self.input_shape) < 1:
            raise UnitConfigError(f"input_shape must be (n_mels, frames), got {self.input_shape}")
        if len(self.lambdas) != 5 or any(v < 0 for v in self.lambdas):
            raise UnitConfigError(f"lambdas must be five weights >= 0 (lambda_0..lambda_4), got {list(self.lambdas)}")
        for name in ("channels", "latent_channels", "disc_channels"):
            if int(getattr(self, name)) < 1:
                raise UnitConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        data = asdict(self)
        data["input_shape"], data["lambdas"] = list(self.input_shape), list(self.lambdas)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "UnitConfig":
        """Inverse of :meth:`to_json` (unknown keys are refused)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UnitConfigError(f"unknown translation settings {unknown}; known: {sorted(known)}")
        return cls(**data)


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2))


def _up(cin: int, cout: int, last: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, 2, 1)]
    if not last:
        layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class PatchDiscriminator(nn.Module):
    """``D(x)``: logits of a map of patches of a mel (no batch norm), one per patch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(_down(1, channels), _down(channels, 2 * channels), nn.Conv2d(2 * channels, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` averaged over every element (closed form)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class UnitTranslator(nn.Module):
    """Two VAE-GANs with a shared latent (see the module docstring).

    Mels go in and come out as ``(B, n_mels, frames)``, normalised (each domain by its own store's statistics).
    """

    def __init__(self, config: UnitConfig) -> None:
        super().__init__()
        self.config = config
        c, zc = config.channels, config.latent_channels
        self.enc_a = nn.Sequential(_down(1, c), _down(c, 2 * c))
        self.enc_b = nn.Sequential(_down(1, c), _down(c, 2 * c))
        self.enc_shared = nn.Conv2d(2 * c, 2 * zc, 3, 1, 1)  # mu and logvar
        self.gen_shared = nn.Sequential(nn.Conv2d(zc, 2 * c, 3, 1, 1), nn.LeakyReLU(0.2))
        self.gen_a = nn.Sequential(_up(2 * c, c), _up(c, 1, last=True))
        self.gen_b = nn.Sequential(_up(2 * c, c), _up(c, 1, last=True))
        self.disc_a = PatchDiscriminator(config.disc_channels)
        self.disc_b = PatchDiscriminator(config.disc_channels)

    # ------------------------------------------------------------------------------------------ the networks
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return F.pad(x.unsqueeze(1), (0, (-w) % FACTOR, 0, (-h) % FACTOR))

    def encode(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``q_domain(z | x)`` for mels ``x`` ``(B, n_mels, frames)``."""
        private = self.enc_a if domain == "a" else self.enc_b
        mu, logvar = self.enc_shared(private(self._pad(x))).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, domain: str, shape: tuple[int, int] | None = None) -> torch.Tensor:
        """Mels ``(B, n_mels, frames)`` of domain ``domain`` for codes ``z``, cropped to ``shape``."""
        private = self.gen_a if domain == "a" else self.gen_b
        h, w = shape or self.config.input_shape
        return private(self.gen_shared(z))[:, 0, :h, :w]

    def discriminate(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """``D_domain``'s patch logits for mels ``x``."""
        return (self.disc_a if domain == "a" else self.disc_b)(self._pad(x))

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``z ~ q(z | x)`` by the reparameterisation."""
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def translate(self, x: torch.Tensor, source: str = "a", target: str = "b") -> torch.Tensor:
        """``G_target(mu_source(x))``: the translation of mels ``x`` at the posterior's mean."""
        mu, _ = self.encode(x, source)
        return self.decode(mu, target, tuple(x.shape[-2:]))

    # ------------------------------------------------------------------------------------------ the losses
    def training_steps(self) -> list[TrainingStep]:
        """``gen`` (encoders and generators, shared layers included) and ``disc`` (both discriminators)."""
        disc = tuple(self.disc_a.parameters()) + tuple(self.disc_b.parameters())
        ids = {id(p) for p in disc}
        return [TrainingStep(GEN_STEP, tuple(p for p in self.parameters() if id(p) not in ids)),
                TrainingStep(DISC_STEP, disc)]

    def loss(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The generators' and encoders' loss ``L_VAE_A + L_VAE_B + L_GAN + L_CC_A + L_CC_B`` and its terms.

        The translated mels of the step are kept (``self.last_translations``, detached) for :meth:`disc_loss`.
        """
        l0, l1, l2, l3, l4 = self.config.lambdas
        shape = tuple(x_a.shape[-2:])
        mu_a, lv_a = self.encode(x_a, "a")
        mu_b, lv_b = self.encode(x_b, "b")
        z_a, z_b = self.sample(mu_a, lv_a), self.sample(mu_b, lv_b)
        kl_a, kl_b = gaussian_kl(mu_a, lv_a), gaussian_kl(mu_b, lv_b)
        rec_a = (self.decode(z_a, "a", shape) - x_a).abs().mean()
        rec_b = (self.decode(z_b, "b", shape) - x_b).abs().mean()
        x_ab, x_ba = self.decode(z_a, "b", shape), self.decode(z_b, "a", shape)
        gan = _bce(self.discriminate(x_ab, "b"), 1.0) + _bce(self.discriminate(x_ba, "a"), 1.0)
        mu_ab, lv_ab = self.encode(x_ab, "b")
        mu_ba, lv_ba = self.encode(x_ba, "a")
        kl_ab, kl_ba = gaussian_kl(mu_ab, lv_ab), gaussian_kl(mu_ba, lv_ba)
        cyc_a = (self.decode(self.sample(mu_ab, lv_ab), "a", shape) - x_a).abs().mean()
        cyc_b = (self.decode(self.sample(mu_ba, lv_ba), "b", shape) - x_b).abs().mean()
        vae = l1 * (kl_a + kl_b) + l2 * (rec_a + rec_b)
        cc = l3 * (kl_a + kl_ab + kl_b + kl_ba) + l4 * (cyc_a + cyc_b)
        total = vae + l0 * gan + cc
        self.last_translations = (x_ab.detach(), x_ba.detach())
        terms = {"vae": vae, "gan": l0 * gan, "cc": cc, "recon_a": rec_a, "recon_b": rec_b, "cycle_a": cyc_a,
                 "cycle_b": cyc_b, "kl_a": kl_a, "kl_b": kl_b}
        return total, {k: v.detach() for k, v in terms.items()}

    def disc_loss(self, x_a: torch.Tensor, x_b: torch.Tensor, x_ab: torch.Tensor, x_ba: torch.Tensor
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminators' loss on real mels and translated ones (detached)."""
        l0 = self.config.lambdas[0]
        d_a = _bce(self.discriminate(x_a, "a"), 1.0) + _bce(self.discriminate(x_ba.detach(), "a"), 0.0)
        d_b = _bce(self.discriminate(x_b, "b"), 1.0) + _bce(self.discriminate(x_ab.detach(), "b"), 0.0)
        return l0 * (d_a + d_b), {"d_a": d_a.detach(), "d_b": d_b.detach()}
