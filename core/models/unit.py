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

With ``kl="avb"`` the KL terms are those of Adversarial Variational Bayes, as the seed's own model has them (its
"2 KL discriminators for each posterior"): the shared last layer of the encoders is an implicit posterior
``z = z_phi(h, eps)`` (:class:`~patchflow.models.avb.ImplicitPosterior`, at every position of the latent map, on
the private encoder's features ``h`` there and noise ``eps ~ N(0, I)``), and each domain has a discriminator
``T_X(h, z)`` (:class:`~patchflow.models.avb.Discriminator`) trained, in a third step ``kl``, with the AVB logistic
loss to tell ``q_X``'s codes from prior codes; ``KL(q_X(z | x) || p(z))`` is then ``E_q[T_X(h, z)]`` divided by
the code's channels (a mean per element, as the closed form's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PatchflowError
from ..model import TrainingStep
from .avb import Discriminator, ImplicitPosterior, discriminator_loss
from .settings import settings_from_json

GEN_STEP, DISC_STEP, KL_STEP = "gen", "disc", "kl"
#: The KL estimators of :class:`UnitConfig`.
KL_KINDS = ("gaussian", "avb")
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
        kl: ``gaussian`` (a Gaussian posterior, the KL in closed form) or ``avb`` (an implicit posterior, the KL
            estimated by a discriminator per domain).
        avb_hidden: With ``kl="avb"``, the width of the implicit posterior's networks and of ``T_A``, ``T_B``.
    """

    input_shape: tuple[int, int] = (128, 87)
    channels: int = 16
    latent_channels: int = 16
    disc_channels: int = 16
    lambdas: tuple[float, float, float, float, float] = field(default=(1.0, 0.01, 10.0, 0.01, 10.0))
    kl: str = "gaussian"
    avb_hidden: int = 32

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)  # type: ignore[assignment]
        self.lambdas = tuple(float(v) for v in self.lambdas)  # type: ignore[assignment]
        if len(self.input_shape) != 2 or min(self.input_shape) < 1:
            raise UnitConfigError(f"input_shape must be (n_mels, frames), got {self.input_shape}")
        if len(self.lambdas) != 5 or any(v < 0 for v in self.lambdas):
            raise UnitConfigError(f"lambdas must be five weights >= 0 (lambda_0..lambda_4), got {list(self.lambdas)}")
        if self.kl not in KL_KINDS:
            raise UnitConfigError(f"kl must be one of {', '.join(KL_KINDS)}, got {self.kl!r}")
        for name in ("channels", "latent_channels", "disc_channels", "avb_hidden"):
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
        return settings_from_json(cls, data, UnitConfigError, "translation")


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


def _rows(t: torch.Tensor) -> torch.Tensor:
    """A map ``(B, C, H, W)`` as one row per position, ``(B * H * W, C)``."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def _unrows(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_rows` for a map shaped as ``like`` but with ``rows.shape[1]`` channels."""
    b, _, h, w = like.shape
    return rows.reshape(b, h, w, rows.shape[1]).permute(0, 3, 1, 2)


class UnitTranslator(nn.Module):
    """Two VAE-GANs with a shared latent (see the module docstring).

    Mels go in and come out as ``(B, n_mels, frames)``, normalised (each domain by its own store's statistics).
    """

    #: The line ``patchflow models`` shows.
    description = ("Translation (seed 003, UNIT): recordings' log-mels into a synth's, two VAE-GANs with a shared "
                   "latent and cycle terms, no paired data; KL in closed form or by AVB (--kl avb).")

    def __init__(self, config: UnitConfig) -> None:
        super().__init__()
        self.config = config
        c, zc = config.channels, config.latent_channels
        self.enc_a = nn.Sequential(_down(1, c), _down(c, 2 * c))
        self.enc_b = nn.Sequential(_down(1, c), _down(c, 2 * c))
        if config.kl == "avb":  # the shared last layer is the implicit posterior; a KL discriminator per domain
            self.posterior = ImplicitPosterior(2 * c, zc, zc, config.avb_hidden)
            self.kl_disc_a = Discriminator(2 * c, zc, config.avb_hidden)
            self.kl_disc_b = Discriminator(2 * c, zc, config.avb_hidden)
        else:
            self.enc_shared = nn.Conv2d(2 * c, 2 * zc, 3, 1, 1)  # mu and logvar
        self.gen_shared = nn.Sequential(nn.Conv2d(zc, 2 * c, 3, 1, 1), nn.LeakyReLU(0.2))
        self.gen_a = nn.Sequential(_up(2 * c, c), _up(c, 1, last=True))
        self.gen_b = nn.Sequential(_up(2 * c, c), _up(c, 1, last=True))
        self.disc_a = PatchDiscriminator(config.disc_channels)
        self.disc_b = PatchDiscriminator(config.disc_channels)
        self.last_posteriors: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"a": [], "b": []}

    # ------------------------------------------------------------------------------------------ the networks
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return F.pad(x.unsqueeze(1), (0, (-w) % FACTOR, 0, (-h) % FACTOR))

    def _features(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        return (self.enc_a if domain == "a" else self.enc_b)(self._pad(x))

    def encode(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mu, logvar)`` of ``q_domain(z | x)`` for mels ``x`` ``(B, n_mels, frames)``; with ``kl="avb"``,
        ``(z_phi(x, 0), None)``: the code of the noise's mode (an implicit posterior has no variance to give)."""
        h = self._features(x, domain)
        if self.config.kl == "avb":
            rows = _rows(h)
            return _unrows(self.posterior(rows, rows.new_zeros(rows.shape[0], self.config.latent_channels)), h), None
        mu, logvar = self.enc_shared(h).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def posterior_sample(self, x: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z ~ q_domain(z | x), KL(q_domain(z | x) || p(z)))``, the KL a mean per element: in closed form, or
        with ``kl="avb"`` the discriminator's estimate ``E_q[T_domain(h, z)] / channels`` (the code and the
        features are kept in ``last_posteriors`` for the ``kl`` step)."""
        if self.config.kl != "avb":
            mu, logvar = self.encode(x, domain)
            return self.sample(mu, logvar), gaussian_kl(mu, logvar)
        h = self._features(x, domain)
        rows = _rows(h)
        z = self.posterior(rows, torch.randn(rows.shape[0], self.config.latent_channels, device=rows.device,
                                             dtype=rows.dtype))
        kl_disc = self.kl_disc_a if domain == "a" else self.kl_disc_b
        kl = kl_disc(rows.detach(), z).mean() / self.config.latent_channels
        self.last_posteriors[domain].append((rows.detach(), z.detach()))
        return _unrows(z, h), kl

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
        """``G_target(mu_source(x))``: the translation of mels ``x`` at the posterior's mean (with ``kl="avb"``,
        at the code of the noise's mode)."""
        mu, _ = self.encode(x, source)
        return self.decode(mu, target, tuple(x.shape[-2:]))

    # ------------------------------------------------------------------------------------------ the losses
    def training_steps(self) -> list[TrainingStep]:
        """``gen`` (encoders and generators, shared layers included), ``disc`` (both discriminators) and, with
        ``kl="avb"``, ``kl`` (the KL discriminators ``T_A``, ``T_B``)."""
        disc = tuple(self.disc_a.parameters()) + tuple(self.disc_b.parameters())
        kl = tuple(self.kl_disc_a.parameters()) + tuple(self.kl_disc_b.parameters()) \
            if self.config.kl == "avb" else ()
        ids = {id(p) for p in disc + kl}
        steps = [TrainingStep(GEN_STEP, tuple(p for p in self.parameters() if id(p) not in ids)),
                 TrainingStep(DISC_STEP, disc)]
        return steps + [TrainingStep(KL_STEP, kl)] if kl else steps

    def loss(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The generators' and encoders' loss ``L_VAE_A + L_VAE_B + L_GAN + L_CC_A + L_CC_B`` and its terms.

        The translated mels of the step are kept (``self.last_translations``, detached) for :meth:`disc_loss`.
        """
        l0, l1, l2, l3, l4 = self.config.lambdas
        shape = tuple(x_a.shape[-2:])
        self.last_posteriors = {"a": [], "b": []}
        z_a, kl_a = self.posterior_sample(x_a, "a")
        z_b, kl_b = self.posterior_sample(x_b, "b")
        rec_a = (self.decode(z_a, "a", shape) - x_a).abs().mean()
        rec_b = (self.decode(z_b, "b", shape) - x_b).abs().mean()
        x_ab, x_ba = self.decode(z_a, "b", shape), self.decode(z_b, "a", shape)
        gan = _bce(self.discriminate(x_ab, "b"), 1.0) + _bce(self.discriminate(x_ba, "a"), 1.0)
        z_ab, kl_ab = self.posterior_sample(x_ab, "b")
        z_ba, kl_ba = self.posterior_sample(x_ba, "a")
        cyc_a = (self.decode(z_ab, "a", shape) - x_a).abs().mean()
        cyc_b = (self.decode(z_ba, "b", shape) - x_b).abs().mean()
        vae = l1 * (kl_a + kl_b) + l2 * (rec_a + rec_b)
        cc = l3 * (kl_a + kl_ab + kl_b + kl_ba) + l4 * (cyc_a + cyc_b)
        total = vae + l0 * gan + cc
        self.last_translations = (x_ab.detach(), x_ba.detach())
        terms = {"vae": vae, "gan": l0 * gan, "cc": cc, "recon_a": rec_a, "recon_b": rec_b, "cycle_a": cyc_a,
                 "cycle_b": cyc_b, "kl_a": kl_a, "kl_b": kl_b}
        return total, {k: v.detach() for k, v in terms.items()}

    def step_loss(self, step: str, x_a: torch.Tensor, x_b: torch.Tensor
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of a later step of the iteration whose :meth:`loss` was just taken on ``x_a``, ``x_b``:
        ``disc`` (:meth:`disc_loss` on that step's translations) or ``kl`` (:meth:`kl_disc_loss`)."""
        if step == DISC_STEP:
            return self.disc_loss(x_a, x_b, *self.last_translations)
        if step == KL_STEP:
            return self.kl_disc_loss()
        raise UnitConfigError(f"no training step {step!r}; the steps are {[s.name for s in self.training_steps()]}")

    def kl_disc_loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """With ``kl="avb"``: the AVB logistic loss of ``T_A`` and ``T_B`` on the posterior codes of the last
        :meth:`loss` (detached; the codes of x_A and of x_B->A for ``T_A``, and so on) against prior codes at the
        same features."""
        losses = {}
        for domain, kl_disc in (("a", self.kl_disc_a), ("b", self.kl_disc_b)):
            h = torch.cat([rows for rows, _ in self.last_posteriors[domain]])
            z = torch.cat([codes for _, codes in self.last_posteriors[domain]])
            losses[domain] = discriminator_loss(kl_disc(h, z), kl_disc(h, torch.randn_like(z)))
        return losses["a"] + losses["b"], {"t_a": losses["a"].detach(), "t_b": losses["b"].detach()}

    def disc_loss(self, x_a: torch.Tensor, x_b: torch.Tensor, x_ab: torch.Tensor, x_ba: torch.Tensor
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminators' loss on real mels and translated ones (detached)."""
        l0 = self.config.lambdas[0]
        d_a = _bce(self.discriminate(x_a, "a"), 1.0) + _bce(self.discriminate(x_ba.detach(), "a"), 0.0)
        d_b = _bce(self.discriminate(x_b, "b"), 1.0) + _bce(self.discriminate(x_ab.detach(), "b"), 0.0)
        return l0 * (d_a + d_b), {"d_a": d_a.detach(), "d_b": d_b.detach()}
