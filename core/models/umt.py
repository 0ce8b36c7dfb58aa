"""The universal music translation network (seed 004; Mor, Wolf, Polyak and Taigman 2018): a WaveNet auto-encoder
with one encoder shared by every domain and one autoregressive WaveNet decoder per domain, on raw audio.

A clip ``s`` of domain ``j`` (mu-law companded, 256 classes, at a low sample rate) is encoded by ``E``, a stack of
residual dilated (non-causal) convolutions, a 1x1 convolution to ``latent_channels`` and an average pooling over
``pool`` samples; the code is repeated back to the sample rate (nearest neighbour) and conditions every layer of
the decoder ``D^j``, a WaveNet with gated causal dilated convolutions that models

    p(s) = prod_t p(s_t | s_1, ..., s_{t-1}, E(s))

as a 256-way softmax per sample. A domain-confusion classifier ``C`` (1x1 convolutions with ELU, logits averaged
over time) tries to tell the domain from the code; the encoder is trained to make it fail, so that the code does
not say which domain a clip came from. With ``O(s, r)`` the random pitch shift of the augmentation, the two
optimisation steps (:class:`~patchflow.model.TrainingStep` ``main`` and ``confusion``) minimise

    main:       sum_j  CE(D^j(s_j, E(O(s_j, r))), s_j)  -  lambda * CE(C(E(O(s_j, r))), j)
    confusion:  sum_j  CE(C(E(O(s_j, r))), j)            (on the codes of ``main``, detached)

A clip of domain ``i`` translates into domain ``j`` as ``D^j`` sampled autoregressively on the code ``E(s_i)``
(:meth:`UmtTranslator.generate`, with a cache of each layer's past inputs so that a sample costs one step per
layer, not a pass over the whole receptive field).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PatchflowError
from ..model import TrainingStep
from .settings import settings_from_json

MAIN_STEP, CONFUSION_STEP = "main", "confusion"
#: Classes of the mu-law output.
CLASSES = 256
#: The domains' names, in the order of the decoders (A: the recordings, B: the synth).
DOMAINS = ("a", "b")


class UmtConfigError(PatchflowError):
    """A UMT model's settings are not usable."""


@dataclass
class UmtConfig:
    """Sizes, sample rate and loss weight of a :class:`UmtTranslator`. The defaults are the small CPU size;
    :meth:`paper` gives the paper's.

    Attributes:
        sample_rate: Rate the model hears and writes audio at (the stores' clips are resampled to it).
        clip_samples: Length of a training clip, in samples (a multiple of ``pool``).
        encoder_blocks: Blocks of the encoder, each of ``encoder_layers`` residual layers with dilations
            ``1, 2, 4, ...``.
        encoder_layers: Layers per encoder block.
        encoder_channels: Width of the encoder.
        latent_channels: Channels of the code.
        pool: Samples the encoder's average pooling takes together (one code per ``pool`` samples).
        decoder_blocks: Blocks of each WaveNet decoder, each of ``decoder_layers`` layers with dilations
            ``1, 2, 4, ...``.
        decoder_layers: Layers per decoder block.
        residual_channels: Width of the decoders' residual stream.
        skip_channels: Width of their skip connections and output layers.
        classifier_layers: 1x1 convolutions of the domain-confusion classifier.
        classifier_channels: Their width.
        confusion_weight: ``lambda``, the weight of the domain-confusion term in the ``main`` step.
        augment_semitones: The pitch augmentation shifts each training clip by a uniform draw in
            ``[-augment_semitones, augment_semitones]`` semitones (0: no augmentation).
    """

    sample_rate: int = 8000
    clip_samples: int = 4000
    encoder_blocks: int = 2
    encoder_layers: int = 6
    encoder_channels: int = 32
    latent_channels: int = 16
    pool: int = 200
    decoder_blocks: int = 2
    decoder_layers: int = 8
    residual_channels: int = 32
    skip_channels: int = 32
    classifier_layers: int = 3
    classifier_channels: int = 32
    confusion_weight: float = 1e-2
    augment_semitones: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in ("confusion_weight", "augment_semitones"):
                if not float(getattr(self, f.name)) >= 0:
                    raise UmtConfigError(f"{f.name} must be >= 0, got {getattr(self, f.name)}")
            elif int(getattr(self, f.name)) < 1:
                raise UmtConfigError(f"{f.name} must be >= 1, got {getattr(self, f.name)}")
        if self.clip_samples % self.pool:
            raise UmtConfigError(f"clip_samples ({self.clip_samples}) must be a multiple of pool ({self.pool})")

    @classmethod
    def paper(cls) -> "UmtConfig":
        """The paper's sizes (a GPU job): 16 kHz, clips of 0.75 s, an encoder of 3 blocks of 10 layers of 128
        channels pooled over 800 samples (50 ms) to a 64-channel code, decoders of 4 blocks of 14 layers with 128
        residual and skip channels, a classifier of 3 layers of 100 channels, lambda 0.01, +-0.5 semitones."""
        return cls(sample_rate=16000, clip_samples=12000, encoder_blocks=3, encoder_layers=10,
                   encoder_channels=128, latent_channels=64, pool=800, decoder_blocks=4, decoder_layers=14,
                   residual_channels=128, skip_channels=128, classifier_layers=3, classifier_channels=100)

    @property
    def receptive_field(self) -> int:
        """Samples of the past one decoder output depends on."""
        return self.decoder_blocks * (2 ** self.decoder_layers - 1) + 1

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "UmtConfig":
        """Inverse of :meth:`to_json` (unknown keys are refused)."""
        return settings_from_json(cls, data, UmtConfigError, "UMT")


# ----------------------------------------------------------------------------------------------------- mu-law
def mu_law_encode(audio: torch.Tensor) -> torch.Tensor:
    """Audio in ``[-1, 1]`` as mu-law classes ``0..255`` (long)."""
    mu = CLASSES - 1
    companded = torch.sign(audio) * torch.log1p(mu * audio.abs().clamp(max=1.0)) / math.log1p(mu)
    return ((companded + 1) / 2 * mu + 0.5).long().clamp(0, mu)


def mu_law_decode(classes: torch.Tensor) -> torch.Tensor:
    """Mu-law classes back to audio in ``[-1, 1]``."""
    mu = CLASSES - 1
    companded = classes.float() / mu * 2 - 1
    return torch.sign(companded) * ((1 + mu) ** companded.abs() - 1) / mu


# ---------------------------------------------------------------------------------------------------- networks
class _EncoderLayer(nn.Module):
    """``x + conv1x1(relu(dilated_conv(relu(x))))`` (kernel 3, non-causal, length kept)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.relu(self.dilated(F.relu(x))))


class Encoder(nn.Module):
    """``E``: mu-law classes ``(B, T)`` to codes ``(B, latent_channels, T // pool)``."""

    def __init__(self, config: UmtConfig) -> None:
        super().__init__()
        self.start = nn.Conv1d(1, config.encoder_channels, 3, padding=1)
        self.layers = nn.Sequential(*(_EncoderLayer(config.encoder_channels, 2 ** i)
                                      for _ in range(config.encoder_blocks) for i in range(config.encoder_layers)))
        self.to_code = nn.Conv1d(config.encoder_channels, config.latent_channels, 1)
        self.pool = nn.AvgPool1d(config.pool)

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        x = (classes.float() / (CLASSES - 1) - 0.5).unsqueeze(1)
        return self.pool(self.to_code(F.relu(self.layers(self.start(x)))))


class WaveNetDecoder(nn.Module):
    """``D^j``: logits ``(B, 256, T)`` of each sample given the samples before it and the code.

    The input is the mu-law class of the previous sample (a learned embedding, zero class before the clip);
    each layer ``l`` computes ``a = W_l * [h_{t-d}, h_t] + V_l z_t``, ``g = tanh(a_1) sigmoid(a_2)``, adds
    ``R_l g`` to the residual stream and ``S_l g`` to the skips; the output is ``out2(relu(out1(relu(sum of
    skips))))``.
    """

    def __init__(self, config: UmtConfig) -> None:
        super().__init__()
        r, s = config.residual_channels, config.skip_channels
        self.dilations = [2 ** i for _ in range(config.decoder_blocks) for i in range(config.decoder_layers)]
        self.embed = nn.Embedding(CLASSES, r)
        self.dilated = nn.ModuleList(nn.Conv1d(r, 2 * r, 2, dilation=d) for d in self.dilations)
        self.cond = nn.ModuleList(nn.Conv1d(config.latent_channels, 2 * r, 1) for _ in self.dilations)
        self.residual = nn.ModuleList(nn.Conv1d(r, r, 1) for _ in self.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(r, s, 1) for _ in self.dilations)
        self.out1 = nn.Conv1d(s, s, 1)
        self.out2 = nn.Conv1d(s, CLASSES, 1)
        self.pool = config.pool

    def forward(self, classes: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits for mu-law classes ``(B, T)`` and codes ``(B, latent, T // pool)``."""
        previous = F.pad(classes[:, :-1], (1, 0))  # class 0 before the clip's first sample
        h = self.embed(previous).transpose(1, 2)
        z = code.repeat_interleave(self.pool, dim=2)[:, :, :classes.shape[1]]
        skips = 0.0
        for d, dilated, cond, residual, skip in zip(self.dilations, self.dilated, self.cond, self.residual,
                                                    self.skip):
            a = dilated(F.pad(h, (d, 0))) + cond(z)
            g = torch.tanh(a[:, :a.shape[1] // 2]) * torch.sigmoid(a[:, a.shape[1] // 2:])
            h = h + residual(g)
            skips = skips + skip(g)
        return self.out2(F.relu(self.out1(F.relu(skips))))

    @torch.no_grad()
    def generate(self, code: torch.Tensor, length: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``length`` mu-law classes ``(B, length)`` one at a time on codes ``(B, latent, frames)``.

        Each layer keeps its last ``d`` inputs in a ring buffer, so a sample costs one matrix product per layer
        (the step's logits are those of :meth:`forward` on the samples drawn so far). ``temperature`` 0 takes the
        most likely class instead of sampling.
        """
        batch, device = code.shape[0], code.device
        r = self.embed.embedding_dim
        cond = [c(code) for c in self.cond]  # (B, 2r, frames), one column per code frame
        past_w = [conv.weight[:, :, 0] for conv in self.dilated]
        now_w = [conv.weight[:, :, 1] for conv in self.dilated]
        buffers = [torch.zeros(batch, d, r, device=device) for d in self.dilations]
        res_w = [(m.weight[:, :, 0], m.bias) for m in self.residual]
        skip_w = [(m.weight[:, :, 0], m.bias) for m in self.skip]
        out = torch.empty(batch, length, dtype=torch.long, device=device)
        previous = torch.zeros(batch, dtype=torch.long, device=device)
        for t in range(length):
            frame = min(t // self.pool, code.shape[2] - 1)
            h = self.embed(previous)
            skips = 0.0
            for i, d in enumerate(self.dilations):
                slot = t % d
                old = buffers[i][:, slot].clone()  # a copy: the slot is overwritten next
                buffers[i][:, slot] = h
                a = F.linear(old, past_w[i]) + F.linear(h, now_w[i], self.dilated[i].bias) + cond[i][:, :, frame]
                g = torch.tanh(a[:, :r]) * torch.sigmoid(a[:, r:])
                h = h + F.linear(g, *res_w[i])
                skips = skips + F.linear(g, *skip_w[i])
            logits = F.linear(F.relu(F.linear(F.relu(skips), self.out1.weight[:, :, 0], self.out1.bias)),
                              self.out2.weight[:, :, 0], self.out2.bias)
            if temperature <= 0:
                previous = logits.argmax(dim=1)
            else:
                probs = torch.softmax(logits / temperature, dim=1)
                previous = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            out[:, t] = previous
        return out


class ConfusionClassifier(nn.Module):
    """``C``: domain logits ``(B, domains)`` of codes ``(B, latent, frames)`` (1x1 convolutions with ELU, the
    logits averaged over the frames)."""

    def __init__(self, config: UmtConfig, domains: int = len(DOMAINS)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = config.latent_channels
        for _ in range(config.classifier_layers):
            layers += [nn.Conv1d(width, config.classifier_channels, 1), nn.ELU()]
            width = config.classifier_channels
        layers.append(nn.Conv1d(width, domains, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).mean(dim=2)


def reconstruction_loss(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats per sample) of logits ``(B, 256, T)`` for classes ``(B, T)``."""
    return F.cross_entropy(logits, classes)


class UmtTranslator(nn.Module):
    """One shared encoder, a WaveNet decoder per domain and the domain-confusion classifier (see the module
    docstring)."""

    #: The line ``patchflow models`` shows.
    description = ("Translation (seed 004, universal music translation network): audio into a synth's, one "
                   "dilated-conv encoder with domain confusion, a mu-law WaveNet decoder per domain.")

    def __init__(self, config: UmtConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoders = nn.ModuleDict({d: WaveNetDecoder(config) for d in DOMAINS})
        self.classifier = ConfusionClassifier(config)
        self.last_codes: list[tuple[torch.Tensor, int]] = []

    def training_steps(self) -> list[TrainingStep]:
        """``main`` (the encoder and the decoders) and ``confusion`` (the classifier)."""
        classifier = tuple(self.classifier.parameters())
        ids = {id(p) for p in classifier}
        return [TrainingStep(MAIN_STEP, tuple(p for p in self.parameters() if id(p) not in ids)),
                TrainingStep(CONFUSION_STEP, classifier)]

    def loss(self, a: torch.Tensor, a_aug: torch.Tensor, b: torch.Tensor, b_aug: torch.Tensor
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The ``main`` step's loss for mu-law clips ``(B, T)`` of each domain and their pitch-shifted copies:
        each decoder reconstructs its domain's clips from the code of the shifted copy, and the encoder is
        rewarded by ``lambda`` times the classifier's cross-entropy on those codes. The codes are kept
        (``last_codes``, detached) for the ``confusion`` step."""
        terms: dict[str, torch.Tensor] = {}
        total = a.new_zeros((), dtype=torch.float32)
        self.last_codes = []
        for j, (domain, clips, shifted) in enumerate(zip(DOMAINS, (a, b), (a_aug, b_aug))):
            code = self.encoder(shifted)
            recon = reconstruction_loss(self.decoders[domain](clips, code), clips)
            confusion = F.cross_entropy(self.classifier(code), torch.full((len(code),), j, device=code.device))
            total = total + recon - self.config.confusion_weight * confusion
            terms[f"recon_{domain}"], terms[f"confusion_{domain}"] = recon.detach(), confusion.detach()
            self.last_codes.append((code.detach(), j))
        return total, terms

    def step_loss(self, step: str, *batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The ``confusion`` step: the classifier's cross-entropy on the codes of the last :meth:`loss`, and its
        accuracy."""
        if step != CONFUSION_STEP:
            raise UmtConfigError(f"no training step {step!r}; the steps are {MAIN_STEP}, {CONFUSION_STEP}")
        logits = torch.cat([self.classifier(code) for code, _ in self.last_codes])
        labels = torch.cat([torch.full((len(code),), j, device=code.device) for code, j in self.last_codes])
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return loss, {"classifier_accuracy": accuracy.detach()}

    def encode(self, classes: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent, T // pool)`` of mu-law clips ``(B, T)`` (``T`` cut to a multiple of ``pool``)."""
        usable = classes.shape[1] // self.config.pool * self.config.pool
        if usable < self.config.pool:
            raise UmtConfigError(f"a clip of {classes.shape[1]} samples is shorter than the pooling of "
                                 f"{self.config.pool}")
        return self.encoder(classes[:, :usable])

    @torch.no_grad()
    def translate(self, audio: torch.Tensor, target: str = "b", temperature: float = 1.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Audio ``(B, T)`` in ``[-1, 1]`` at the model's rate translated into domain ``target``: the decoder of
        ``target`` sampled on the clip's code, as long as the clip (the samples after the last full code frame
        keep that frame's code)."""
        classes = mu_law_encode(audio)
        code = self.encode(classes)
        return mu_law_decode(self.decoders[target].generate(code, audio.shape[1], temperature, generator))
