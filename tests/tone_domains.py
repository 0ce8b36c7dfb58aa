"""A tiny two-domain set for the translation tests, and a classifier of its two domains.

Domain A holds square-wave tones (odd harmonics up to the top of the spectrum), domain B sine tones (a single
partial), each at 16 pitches and four decay rates; both are imported like a synth's store, so they hold log-mels
and clips of its shape. The classifier is a logistic regression on a mel's spectrum (its time average, in dB,
standardised), trained on the real clips of both domains. A translation that only blurs (a mel full of every
frequency) looks like domain A to it, so it has to take the harmonics away to be called B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import soundfile
import torch
import torch.nn.functional as F

#: 16 pitches, four to an octave, from A2.
FREQUENCIES = 110.0 * 2.0 ** (np.arange(16) / 4)
#: A UMT small enough for tests (``UmtConfig(**UMT_TEST_SIZE)``): clips of 1000 samples at 8 kHz, one encoder
#: block of 6 layers, one decoder block of 7 (a receptive field of 128 samples).
UMT_TEST_SIZE = {"clip_samples": 1000, "encoder_blocks": 1, "encoder_layers": 6, "encoder_channels": 16,
                 "latent_channels": 8, "pool": 100, "decoder_blocks": 1, "decoder_layers": 7,
                 "residual_channels": 16, "skip_channels": 32, "classifier_channels": 16}


def tone(kind: str, freq: float, index: int, rate: int = 22050, seconds: float = 4.0) -> np.ndarray:
    """A ``square`` or ``sine`` tone with a 20 ms attack and one of four exponential decays, peak 0.5."""
    t = np.arange(int(rate * seconds)) / rate
    wave = np.sin(2 * np.pi * freq * t)
    if kind == "square":
        wave = np.sign(wave)
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-t * (0.3 + 0.2 * (index % 4)))
    return (0.5 * wave * envelope).astype(np.float32)


def tone_stores(like: Path, folder: Path) -> tuple[Path, Path]:
    """Write the square (A) and sine (B) tones as WAVs under ``folder`` and import each domain ``--like`` the
    store ``like``; returns the two stores' paths."""
    from patchflow.data.importing import import_audio

    paths = []
    for kind in ("square", "sine"):
        wavs = folder / kind
        wavs.mkdir(parents=True)
        for i, freq in enumerate(FREQUENCIES):
            soundfile.write(wavs / f"{kind}_{i:02d}.wav", tone(kind, float(freq), i), 22050)
        import_audio(wavs, like, folder / f"{kind}.zarr")
        paths.append(folder / f"{kind}.zarr")
    return paths[0], paths[1]


def domain_classifier(mels_a: np.ndarray, mels_b: np.ndarray, steps: int = 300, seed: int = 0,
                      relative: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """Fit a logistic regression telling dB log-mels ``(N, n_mels, frames)`` of A (0) from those of B (1) on
    their time-averaged spectra; returns ``p(B | mel)`` for a batch of mels. ``relative``: each spectrum is taken
    relative to its own loudest band, so the classifier judges the spectrum's shape and not the clip's level."""
    def spectra(mels: np.ndarray) -> np.ndarray:
        spectrum = np.asarray(mels, dtype=np.float64).mean(axis=2)
        return spectrum - spectrum.max(axis=1, keepdims=True) if relative else spectrum

    x = np.concatenate([spectra(mels_a), spectra(mels_b)])
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    inputs = torch.tensor((x - mean) / std, dtype=torch.float32)
    labels = torch.cat([torch.zeros(len(mels_a)), torch.ones(len(mels_b))])
    torch.manual_seed(seed)
    weights = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([weights, bias], lr=0.05)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(inputs @ weights + bias, labels) + 1e-2 * weights.pow(2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def p_b(mels: np.ndarray) -> np.ndarray:
        z = torch.tensor((spectra(mels) - mean) / std, dtype=torch.float32)
        with torch.no_grad():
            return torch.sigmoid(z @ weights + bias).numpy()

    return p_b


def as_model_hears(audio: np.ndarray, rate: int, model_rate: int) -> np.ndarray:
    """Clips ``(N, samples)`` at ``rate`` as a mu-law model at ``model_rate`` can write them: resampled down,
    scaled to the peak UMT trains at, quantised to the 256 mu-law classes, resampled back and returned to their
    level. A sine tone keeps a white quantisation floor about 30 dB under its partial; a domain classifier fitted
    on the clips only taken through ``model_rate`` (:func:`at_rate`) calls even a perfect mu-law copy of a sine
    tone "square"."""
    import soxr

    from patchflow.models.umt import mu_law_decode, mu_law_encode
    from patchflow.training.translation import UMT_PEAK as peak

    out = []
    for clip in audio:
        low = soxr.resample(clip, rate, model_rate)
        level = float(np.abs(low).max()) or 1.0
        quantised = mu_law_decode(mu_law_encode(torch.from_numpy(low * (peak / level)))).numpy()
        out.append(soxr.resample(quantised, model_rate, rate)[:len(clip)] * (level / peak))
    return np.stack(out).astype(np.float32)


def at_rate(audio: np.ndarray, rate: int, low_rate: int) -> np.ndarray:
    """Clips ``(N, samples)`` at ``rate`` taken down to ``low_rate`` and back (what a model at ``low_rate``
    hears of them: nothing above its Nyquist frequency)."""
    import soxr

    return np.stack([soxr.resample(soxr.resample(c, rate, low_rate), low_rate, rate)[:len(c)] for c in audio])
