"""Metric definitions: parameter error, categorical accuracy, audio distances and paired comparisons.

Audio metrics compare a target spectrogram ``S`` with the spectrogram ``S_hat`` of audio re-rendered by the synth:

* **spectral convergence** ``SC = ||S - S_hat||_F / ||S||_F`` on the *linear-magnitude mel spectrogram*
  (:func:`magnitude_mel`: STFT magnitude, not power, through a mel filter bank);
* **spectrogram MSE**: the mean squared difference of the *natural-log* magnitude mel spectrograms,
  ``mean((ln(S + eps) - ln(S_hat + eps))**2)`` with ``eps =`` :data:`LOG_EPS`.

Every function works on one item or on a batch (leading axis) and returns one value per item.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..parameters import ParameterTable

#: Floor added to magnitudes before taking the logarithm in :func:`spectrogram_mse`.
LOG_EPS = 1e-3


@dataclass(frozen=True)
class SpectrogramSettings:
    """How the spectrograms of the audio metrics are computed (the paper's mel settings by default).

    Attributes:
        sample_rate: Sample rate of the audio in Hz.
        n_fft: FFT size.
        hop_length: Hop between frames in samples.
        n_mels: Number of mel bands.
        fmin: Lowest mel frequency in Hz.
        fmax: Highest mel frequency in Hz.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 128
    fmin: float = 30.0
    fmax: float = 11000.0

    @classmethod
    def from_features(cls, features: Any, sample_rate: int) -> "SpectrogramSettings":
        """Settings matching a dataset's feature settings (any object with the usual attribute names)."""
        def pick(*names: str, default: Any) -> Any:
            for name in names:
                if getattr(features, name, None) is not None:
                    return getattr(features, name)
            return default

        fmax = float(pick("fmax", "f_max", default=cls.fmax))
        return cls(sample_rate=int(pick("sample_rate", default=sample_rate)),
                   n_fft=int(pick("n_fft", default=cls.n_fft)),
                   hop_length=int(pick("hop_length", "hop", default=cls.hop_length)),
                   n_mels=int(pick("n_mels", default=cls.n_mels)),
                   fmin=float(pick("fmin", "f_min", default=cls.fmin)),
                   fmax=min(fmax, int(pick("sample_rate", default=sample_rate)) / 2))

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dictionary."""
        return asdict(self)


def magnitude_mel(audio: np.ndarray, settings: SpectrogramSettings) -> np.ndarray:
    """Linear-magnitude mel spectrogram ``(..., n_mels, frames)`` of mono audio ``(..., samples)``.

    A centred, zero-padded STFT with a periodic Hann window; magnitudes (power 1, not power 2) are summed through
    librosa's Slaney-normalised mel filters (the same numbers as ``librosa.feature.melspectrogram(power=1)``).
    """
    import torch

    audio = np.asarray(audio, dtype=np.float32)
    flat = torch.from_numpy(np.ascontiguousarray(audio.reshape(-1, audio.shape[-1])))
    window, filters = _stft_tables(settings)
    out = []
    with torch.no_grad():
        for start in range(0, flat.shape[0], 16):  # small chunks stay in the allocator's cache
            stft = torch.stft(flat[start:start + 16], settings.n_fft, settings.hop_length, window=window,
                              center=True, pad_mode="constant", return_complex=True)
            out.append(torch.matmul(filters, stft.abs()))
    mel = torch.cat(out).numpy() if out else np.zeros((0, settings.n_mels, 0), dtype=np.float32)
    return mel.reshape(audio.shape[:-1] + mel.shape[-2:])


@functools.lru_cache(maxsize=8)
def _stft_tables(settings: SpectrogramSettings):
    import librosa
    import torch

    filters = librosa.filters.mel(sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels,
                                  fmin=settings.fmin, fmax=settings.fmax)
    return torch.hann_window(settings.n_fft), torch.from_numpy(filters.astype(np.float32))


def _flat(spec: np.ndarray) -> np.ndarray:
    spec = np.asarray(spec, dtype=np.float64)
    return spec.reshape(1, -1) if spec.ndim <= 2 else spec.reshape(spec.shape[0], -1)


def spectral_convergence(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``||S - S_hat||_F / ||S||_F`` per item (items along the first axis of 3-D inputs).

    A silent target (``||S||_F = 0``) gives 0 when the estimate is silent too and ``inf`` otherwise.
    """
    s, s_hat = _flat(target), _flat(estimate)
    num = np.linalg.norm(s - s_hat, axis=1)
    den = np.linalg.norm(s, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    return out


def spectrogram_mse(target: np.ndarray, estimate: np.ndarray, eps: float = LOG_EPS) -> np.ndarray:
    """Mean squared difference of the log-magnitude spectrograms ``ln(S + eps)`` per item."""
    s, s_hat = _flat(target), _flat(estimate)
    return np.mean((np.log(s + eps) - np.log(s_hat + eps)) ** 2, axis=1)


def level_matched(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """The estimate scaled by the least-squares gain ``g = <S, S_hat> / <S_hat, S_hat>`` (``g >= 0``) per item.

    Used when the target's level is arbitrary (a recording rather than a render of the same synth).
    """
    s, s_hat = _flat(target), _flat(estimate)
    energy = np.sum(s_hat * s_hat, axis=1)
    gain = np.where(energy > 0, np.sum(s * s_hat, axis=1) / np.where(energy > 0, energy, 1.0), 0.0)
    gain = np.clip(gain, 0.0, None)
    estimate = np.asarray(estimate, dtype=np.float64)
    if estimate.ndim <= 2:
        return estimate * gain[0]
    return estimate * gain.reshape((-1,) + (1,) * (estimate.ndim - 1))


def parameter_mse(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Mean squared error of normalised (``[0, 1]``) parameter vectors, per item."""
    t = np.atleast_2d(np.asarray(target, dtype=np.float64))
    e = np.atleast_2d(np.asarray(estimate, dtype=np.float64))
    return np.mean((t - e) ** 2, axis=1)


def categorical_accuracy(target: np.ndarray, estimate: np.ndarray, table: ParameterTable) -> np.ndarray | None:
    """Share of categorical / boolean parameters whose class is right, per item (``None`` if there are none).

    Normalised values are mapped back to classes through the specs, so ``0.49`` and ``0.51`` of a two-choice
    parameter are different classes.
    """
    columns = [i for i, spec in enumerate(table) if not spec.is_continuous]
    if not columns:
        return None
    t = table.to_native(np.atleast_2d(target))[:, columns]
    e = table.to_native(np.atleast_2d(estimate))[:, columns]
    return np.mean(t == e, axis=1)


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean, standard deviation (population), median and count of the finite values (``n_nonfinite`` counts
    the others)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0,
                "n_nonfinite": int(arr.size)}
    return {"mean": float(finite.mean()), "std": float(finite.std()), "median": float(np.median(finite)),
            "n": int(finite.size), "n_nonfinite": int(arr.size - finite.size)}


def paired_comparison(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Compare two per-item error arrays of the same items (lower is better).

    Returns:
        ``a_better``: share of items where ``a < b``; ``b_better``: share where ``b < a``; ``ties``: the rest;
        ``p_value``: two-sided Wilcoxon signed-rank p-value (``nan`` when every pair ties or fewer than two items).
    """
    from scipy.stats import wilcoxon

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same items, got {a.size} and {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = max(a.size, 1)
    result = {"a_better": float(np.sum(a < b) / n), "b_better": float(np.sum(b < a) / n),
              "ties": float(np.sum(a == b) / n), "n": int(a.size), "p_value": float("nan")}
    if a.size >= 2 and np.any(a != b):
        result["p_value"] = float(wilcoxon(a, b, zero_method="wilcox").pvalue)
    return result
