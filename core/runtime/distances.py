"""Audio distances between a target spectrogram ``S`` and the spectrogram ``S_hat`` of a candidate's rendering.

Both are linear-magnitude mel spectrograms (:func:`patchflow.data.features.magnitude_mel`: STFT magnitude, not
power, through the mel filter bank of the run's :class:`~patchflow.data.features.FeatureSettings`):

* **spectral convergence** ``SC = ||S - S_hat||_F / ||S||_F``;
* **spectrogram MSE**: the mean squared difference of the *natural-log* magnitudes,
  ``mean((ln(S + eps) - ln(S_hat + eps))**2)`` with ``eps =`` :data:`LOG_EPS`;
* **mel dB distance**: the mean absolute difference of the magnitudes in dB, each spectrogram referred to its own
  peak and floored :data:`TOP_DB` below it, ``mean |D(S) - D(S_hat)|`` with
  ``D(S) = max(20 log10(S / max S), -TOP_DB)``: one resolution of the multi-scale mel distance of the
  evaluation (:func:`patchflow.evaluation.audio_metrics.mss`), on the spectrogram the search already has;
* **SC + dB**: ``SC + mel_dB / DB_PER_SC`` (:data:`DB_PER_SC` dB weigh as much as an SC of 1). SC is ruled by the
  loudest partials and ignores what lies 30 dB below them; the dB distance weighs every level alike. Steering a
  search by SC alone leaves the quiet part of the spectrum (noise, upper partials, the release) to chance, and
  on recordings it made the dB distances worse than the candidates it started from.

Every function works on one item or on a batch (leading axis) and returns one value per item. The evaluation
reports them; the synth-in-the-loop search (:mod:`patchflow.runtime.search`) minimises them.
"""

from __future__ import annotations

import numpy as np

#: Floor added to magnitudes before taking the logarithm in :func:`spectrogram_mse`.
LOG_EPS = 1e-3
#: Dynamic range (dB below each spectrogram's peak) of :func:`mel_db_distance`.
TOP_DB = 80.0
#: Decibels of :func:`mel_db_distance` that weigh as much as a spectral convergence of 1 in :func:`sc_db`.
DB_PER_SC = 20.0


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


def _peak_db(spec: np.ndarray, top_db: float) -> np.ndarray:
    peak = np.maximum(spec.max(axis=1, keepdims=True), 1e-12)
    return np.maximum(20.0 * np.log10(np.maximum(spec, 1e-12) / peak), -top_db)


def mel_db_distance(target: np.ndarray, estimate: np.ndarray, top_db: float = TOP_DB) -> np.ndarray:
    """Mean absolute difference (dB) of the peak-referenced magnitudes, floored ``top_db`` below each peak, per
    item. The overall level does not count."""
    s, s_hat = _flat(target), _flat(estimate)
    return np.mean(np.abs(_peak_db(s, top_db) - _peak_db(s_hat, top_db)), axis=1)


def sc_db(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``SC + mel_dB / DB_PER_SC`` per item: spectral convergence and the dB distance in one number."""
    return spectral_convergence(target, estimate) + mel_db_distance(target, estimate) / DB_PER_SC


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
