"""Log-mel features, computed in batches with torch.

The recipe follows the method's paper: magnitude spectrogram (FFT 2048, hop 1024, Hann window, centred frames with
zero padding), 128 mel bins between 30 and 11000 Hz (librosa's Slaney filters), log amplitude in decibels
``20 * log10(max(mel, 1e-5))`` (no per-clip reference, no top-dB cut, so levels are comparable across clips).
The result equals ``librosa.amplitude_to_db(librosa.feature.melspectrogram(..., power=1, pad_mode="constant"),
ref=1.0, amin=1e-5, top_db=None)`` within 0.01 dB for bins above -80 dB (see ``tests/test_features.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch

#: Batches are processed in slices of this many clips: larger tensors are slower to allocate than to reuse.
SLICE = 16


@dataclass(frozen=True)
class FeatureSettings:
    """How audio becomes a log-mel spectrogram.

    Attributes:
        sample_rate: Sample rate of the audio in Hz.
        n_mels: Number of mel bins.
        n_fft: FFT size (and window length).
        hop: Hop between frames in samples.
        fmin: Lowest mel-filter frequency in Hz.
        fmax: Highest mel-filter frequency in Hz.
        amin: Amplitude floor before the logarithm.
    """

    sample_rate: int = 22050
    n_mels: int = 128
    n_fft: int = 2048
    hop: int = 1024
    fmin: float = 30.0
    fmax: float = 11000.0
    amin: float = 1e-5

    def frames(self, num_samples: int) -> int:
        """Number of frames for a clip of ``num_samples`` (centred frames)."""
        return 1 + num_samples // self.hop

    def to_json(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "FeatureSettings":
        """Inverse of :meth:`to_json`."""
        return cls(**data)


@lru_cache(maxsize=8)
def _mel_basis(settings: FeatureSettings) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels,
                                fmin=settings.fmin, fmax=settings.fmax)
    return torch.from_numpy(basis.astype(np.float32))


@lru_cache(maxsize=8)
def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True)


def log_mel(audio: np.ndarray | torch.Tensor, settings: FeatureSettings = FeatureSettings()) -> torch.Tensor:
    """Log-mel spectrograms of a batch of mono clips.

    Args:
        audio: ``(B, samples)`` or ``(samples,)`` float audio at ``settings.sample_rate``.
        settings: The feature recipe.

    Returns:
        ``(B, n_mels, frames)`` float32 tensor in dB (``(n_mels, frames)`` for a single clip), on the input's
        device (CPU for numpy input).
    """
    x = torch.as_tensor(audio, dtype=torch.float32)
    single = x.ndim == 1
    if single:
        x = x.unsqueeze(0)
    if x.ndim != 2:
        raise ValueError(f"expected (batch, samples) audio, got shape {tuple(x.shape)}")
    basis = _mel_basis(settings).to(x.device)
    window = _window(settings.n_fft).to(x.device)
    outputs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], SLICE):
            chunk = x[start:start + SLICE]
            spec = torch.stft(chunk, settings.n_fft, hop_length=settings.hop, window=window, center=True,
                              pad_mode="constant", return_complex=True).abs()
            mel = torch.matmul(basis, spec)
            outputs.append(20.0 * torch.log10(torch.clamp(mel, min=settings.amin)))
    out = torch.cat(outputs) if outputs else torch.empty(0, settings.n_mels, settings.frames(x.shape[1]))
    return out[0] if single else out
