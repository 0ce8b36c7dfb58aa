"""Audio metrics of the sound-matching literature, between target audio and the re-rendered estimate.

Beside the two distances of :mod:`patchflow.runtime.distances` (spectral convergence and log-mel MSE on the run's
linear-magnitude mel), the evaluation reports:

* the variant of the Flow Synthesizer paper's own code (``acids-ircam/flow_synthesizer``, ``code/models/loss.py``),
  so numbers can sit next to its Table 1: **spectral convergence on a power mel** with 64 bands
  (:func:`spectral_convergence_paper`) and its **log-magnitude ratio** (:func:`log_ratio_paper`);
* the audio metrics of Hayes, Saitis & Fazekas, "Audio synthesizer inversion in symmetric parameter spaces with
  approximately equivariant flow matching" (ISMIR 2025): **multi-scale mel distance** in dB (:func:`mss`),
  **spectral optimal transport** (:func:`sot`), **RMS-envelope cosine similarity** (:func:`envelope_cosine`) and
  **MFCC distance after dynamic time warping** (:func:`wmfcc`).

The exact definitions, and where they deviate from the sources, are on the docs page :doc:`/guide/evaluation`.
Window and hop lengths are given in milliseconds and turned into samples as ``int(ms * sample_rate / 1000)``,
as the sources do, so the metrics follow the store's sample rate. Spectrograms are computed for whole batches
with scipy's FFT (Hann window, centred frames padded with zeros, librosa's Slaney mel filters) and the DTW is
vectorised over anti-diagonals. Every function takes a batch, ``(N, samples)`` arrays of the same length (or one
``(samples,)`` clip), and returns one value per item. Only ``env_cos`` is a similarity (higher is better); the
rest are distances (0 for identical audio).

To score many estimates against the same targets (the rows of an evaluation), compute the targets'
:func:`features` once and :func:`compare` them with each estimate's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from ..runtime.distances import spectral_convergence

#: Metric keys, in the order reports show them.
AUDIO_METRICS = ("sc_paper", "log_ratio_paper", "mss", "sot", "env_cos", "wmfcc")

#: Metrics where a higher value is better (every other metric of the evaluation is an error).
HIGHER_IS_BETTER = frozenset({"env_cos", "accuracy"})

#: The Flow Synthesizer code's mel: FFT size, hop, bands, lowest and highest filter frequency (Hz), frames kept.
PAPER_MEL = {"n_fft": 2048, "hop": 1024, "n_mels": 64, "fmin": 30.0, "fmax": 11000.0, "frames": 80}
#: Floor of the logarithms of :func:`log_ratio_paper` (the paper code's).
PAPER_LOG_EPS = 1e-9

#: ``(window ms, hop ms, mel bands)`` of the three resolutions of :func:`mss`.
MSS_SCALES = ((10.0, 5.0, 32), (25.0, 10.0, 64), (100.0, 50.0, 128))
#: ``(window ms, hop ms)`` of the STFT of :func:`sot`.
SOT_FRAMES = (50.0, 20.0)
#: ``(frame ms, hop ms)`` of the RMS envelope of :func:`envelope_cosine`.
RMS_FRAMES = (50.0, 25.0)
#: ``(window ms, hop ms, mel bands, coefficients)`` of the MFCCs of :func:`wmfcc`.
MFCC_SETTINGS = (50.0, 10.0, 128, 20)

#: Power floor and dynamic range (dB) of the decibel conversions (librosa's ``power_to_db`` defaults).
AMIN, TOP_DB = 1e-10, 80.0

#: One line per metric, for reports (``info["metrics"]`` of an evaluation).
DESCRIPTIONS = {
    "sc_paper": "||P - P_hat||_F / ||P||_F on power mel spectrograms (64 bands, FFT 2048, hop 1024, 30-11000 Hz, "
                "first 80 frames), the Flow Synthesizer code's SC",
    "log_ratio_paper": "sum |ln(P + 1e-9) - ln(P_hat + 1e-9)| / sum |ln(P + 1e-9)| on the same, the Flow "
                       "Synthesizer code's log-magnitude ratio",
    "mss": "mean absolute difference (dB) of max-referenced log power mels, averaged over 10/5 ms x 32, "
           "25/10 ms x 64 and 100/50 ms x 128 (window/hop x bands)",
    "sot": "mean over STFT frames (50/20 ms) of the 1-D Wasserstein distance between sum-normalised magnitude "
           "spectra, frequency in units of the bin count",
    "env_cos": "cosine similarity of the RMS envelopes (50/25 ms frames); higher is better",
    "wmfcc": "symmetric2 DTW cost between 20 MFCCs (50/10 ms, 128 bands) with the mean absolute coefficient "
             "difference as local cost, divided by the two lengths' sum",
}


def _samples(ms: float, sample_rate: int) -> int:
    return int(ms * sample_rate / 1000.0)


def _batch(audio: np.ndarray | torch.Tensor) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"expected (batch, samples) audio, got shape {tuple(x.shape)}")
    return x


def _pair(target: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, int]:
    """Target and estimate stacked into one batch ``(2N, samples)`` (one STFT call for both), and ``N``."""
    t, e = _batch(target), _batch(estimate)
    if t.shape != e.shape:
        raise ValueError(f"target and estimate differ in shape: {tuple(t.shape)} vs {tuple(e.shape)}")
    return np.concatenate([t, e]), t.shape[0]


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Centred frames ``(B, frames, length)`` of ``x`` ``(B, samples)`` padded with ``length // 2`` zeros on each
    side (a view, no copy): ``1 + samples // hop`` frames for even lengths, as librosa's ``center=True``."""
    padded = np.pad(x, ((0, 0), (length // 2, length // 2)))
    return np.lib.stride_tricks.sliding_window_view(padded, length, axis=1)[:, ::hop]


@lru_cache(maxsize=32)
def _window(n_fft: int) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


@lru_cache(maxsize=32)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """Slaney mel filters, transposed ``(bins, n_mels)`` for a frames-major product."""
    import librosa

    with warnings.catch_warnings():  # the 10 ms scale leaves some narrow low filters empty, as in the source
        warnings.filterwarnings("ignore", message="Empty filters detected")
        basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                    fmax=None if fmax is None else min(fmax, sample_rate / 2))
    return np.ascontiguousarray(basis.T.astype(np.float32))


def _spectrum(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT ``(B, frames, n_fft // 2 + 1)``: Hann window of ``n_fft`` samples, centred zero-padded frames
    (scipy's FFT: several times faster than torch's for the odd sizes the millisecond windows give)."""
    import scipy.fft

    return scipy.fft.rfft(_frames(x, n_fft, hop) * _window(n_fft), axis=-1, workers=1)


def _magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``|STFT|`` ``(B, frames, bins)``, float32."""
    return np.abs(_spectrum(x, n_fft, hop))


def _power_mel(x: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int, fmin: float = 0.0,
               fmax: float | None = None) -> np.ndarray:
    """Power mel spectrograms ``(B, frames, n_mels)``: ``|STFT|^2`` through Slaney mel filters."""
    spectrum = _spectrum(x, n_fft, hop)
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    return power @ _mel_basis(sample_rate, n_fft, n_mels, fmin, fmax)


def _db(power: np.ndarray, max_reference: bool) -> np.ndarray:
    """``10 log10(max(P, amin))`` per item, relative to the item's peak when ``max_reference``, floored
    :data:`TOP_DB` below the item's maximum (librosa's ``power_to_db`` applied to each item)."""
    db = 10.0 * np.log10(np.maximum(power, AMIN))
    if max_reference:
        db -= 10.0 * np.log10(np.maximum(power.max(axis=(-2, -1), keepdims=True), AMIN))
    return np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - TOP_DB)


# --- features: what each metric compares, computed once per clip -------------------------------------------

def paper_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power mel spectrograms ``(N, 64, frames)`` of the Flow Synthesizer code (:data:`PAPER_MEL`), float64,
    cut to its first 80 frames."""
    p = PAPER_MEL
    mel = _power_mel(_batch(audio), sample_rate, p["n_fft"], p["hop"], p["n_mels"], p["fmin"], p["fmax"])
    return mel[:, :p["frames"]].transpose(0, 2, 1).astype(np.float64)


def _mss_db(audio: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """The peak-referenced dB power mels ``(N, frames, bands)`` of each scale of :data:`MSS_SCALES`."""
    x = _batch(audio)
    return [_db(_power_mel(x, sample_rate, _samples(window_ms, sample_rate), _samples(hop_ms, sample_rate),
                           n_mels), max_reference=True)
            for window_ms, hop_ms, n_mels in MSS_SCALES]


def _sot_cdf(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cumulative sums over frequency ``(N, frames, bins)`` of the STFT magnitude frames of :data:`SOT_FRAMES`,
    each normalised to sum 1 (sums floored at 1e-6, so a silent frame is all zeros)."""
    spectra = _magnitude(_batch(audio), _samples(SOT_FRAMES[0], sample_rate),
                         _samples(SOT_FRAMES[1], sample_rate)).astype(np.float64)
    return np.cumsum(spectra / np.maximum(spectra.sum(axis=-1, keepdims=True), 1e-6), axis=-1)


def rms_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS envelopes ``(N, frames)``: ``sqrt(mean(x^2))`` over frames of :data:`RMS_FRAMES`, centred with zero
    padding (librosa's ``feature.rms``)."""
    frame, hop = _samples(RMS_FRAMES[0], sample_rate), _samples(RMS_FRAMES[1], sample_rate)
    frames = _frames(_batch(audio).astype(np.float64), frame, hop)
    return np.sqrt(np.einsum("bfi,bfi->bf", frames, frames) / frame)


@lru_cache(maxsize=8)
def _dct_matrix(n_mels: int, n_coefficients: int) -> np.ndarray:
    """Orthonormal DCT-II, transposed ``(n_mels, n_coefficients)`` (``scipy.fft.dct(type=2, norm="ortho")``)."""
    k = np.arange(n_coefficients)[None, :]
    m = np.arange(n_mels)[:, None]
    basis = np.cos(np.pi * k * (2 * m + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    basis[:, 0] /= np.sqrt(2.0)
    return basis


def _mfcc_frames(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    window_ms, hop_ms, n_mels, n_coefficients = MFCC_SETTINGS
    mel = _power_mel(_batch(audio), sample_rate, _samples(window_ms, sample_rate), _samples(hop_ms, sample_rate),
                     n_mels)
    return _db(mel, max_reference=False).astype(np.float64) @ _dct_matrix(n_mels, n_coefficients)


def mfcc(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """MFCCs ``(N, 20, frames)`` of :data:`MFCC_SETTINGS`: power mel (0 Hz to Nyquist) in dB (reference 1,
    floored 80 dB below the item's maximum), orthonormal DCT-II over bands, first 20 coefficients (librosa's
    ``feature.mfcc``)."""
    return _mfcc_frames(audio, sample_rate).transpose(0, 2, 1)


# --- comparisons ---------------------------------------------------------------------------------------------

def _log_ratio(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    lt, le = np.log(target + PAPER_LOG_EPS), np.log(estimate + PAPER_LOG_EPS)
    return np.sum(np.abs(lt - le), axis=(1, 2)) / np.sum(np.abs(lt), axis=(1, 2))


def _mss_distance(target: list[np.ndarray], estimate: list[np.ndarray]) -> np.ndarray:
    return sum(np.abs(t - e).mean(axis=(1, 2), dtype=np.float64) for t, e in zip(target, estimate)) / len(target)


def _cdf_distance(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    # W1 between two distributions on the bins k / K: the L1 distance of their CDFs times the bin width 1 / K
    return (np.abs(target - estimate).sum(axis=-1) / target.shape[-1]).mean(axis=1)


def _cosine(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    norm_t, norm_e = np.linalg.norm(target, axis=1), np.linalg.norm(estimate, axis=1)
    norms = norm_t * norm_e
    cos = np.sum(target * estimate, axis=1) / np.where(norms > 0, norms, 1.0)
    return np.clip(np.where((norm_t == 0) & (norm_e == 0), 1.0, np.where(norms > 0, cos, 0.0)), -1.0, 1.0)


def dtw_cost(cost: np.ndarray) -> np.ndarray:
    """Normalised dynamic-time-warping cost of local cost matrices ``(B, N, M)`` (or one ``(N, M)``), per item.

    The symmetric2 step pattern (Sakoe & Chiba; the default of the ``dtw`` package the source used):
    ``D[0, 0] = C[0, 0]``, ``D[i, j] = min(D[i-1, j-1] + 2 C[i, j], D[i-1, j] + C[i, j], D[i, j-1] + C[i, j])``,
    and the cost is ``D[N-1, M-1] / (N + M)``. Computed for all items at once, one anti-diagonal at a time.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim == 2:
        c = c[None]
    b, n, m = c.shape
    acc = np.full((b, n + 1, m + 1), np.inf)  # acc[:, i + 1, j + 1] = D[i, j]; row and column 0 are borders
    acc[:, 1, 1] = c[:, 0, 0]
    for s in range(1, n + m - 1):
        i = np.arange(max(0, s - m + 1), min(s, n - 1) + 1)
        j = s - i
        local = c[:, i, j]
        acc[:, i + 1, j + 1] = np.minimum(acc[:, i, j] + 2.0 * local,
                                          np.minimum(acc[:, i, j + 1], acc[:, i + 1, j]) + local)
    return acc[:, n, m] / (n + m)


def _mfcc_dtw(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    # local cost: the mean absolute difference of two frames' coefficients, for every pair of frames
    local = torch.cdist(torch.from_numpy(target), torch.from_numpy(estimate), p=1.0) / target.shape[-1]
    return dtw_cost(local.numpy())


#: How each feature of :func:`features` is computed from audio ``(N, samples)``.
FEATURES: dict[str, Callable[[np.ndarray, int], Any]] = {
    "paper_mel": paper_mel, "mss_db": _mss_db, "sot_cdf": _sot_cdf, "rms": rms_envelope, "mfcc": _mfcc_frames}

#: ``metric -> (feature, comparison of the target's and the estimate's feature)``.
METRICS: dict[str, tuple[str, Callable[[Any, Any], np.ndarray]]] = {
    "sc_paper": ("paper_mel", spectral_convergence), "log_ratio_paper": ("paper_mel", _log_ratio),
    "mss": ("mss_db", _mss_distance), "sot": ("sot_cdf", _cdf_distance), "env_cos": ("rms", _cosine),
    "wmfcc": ("mfcc", _mfcc_dtw)}


def _check(metrics: tuple[str, ...]) -> None:
    unknown = [k for k in metrics if k not in METRICS]
    if unknown:
        raise ValueError(f"unknown audio metric(s) {unknown}; choose from {', '.join(AUDIO_METRICS)}")


def features(audio: np.ndarray, sample_rate: int, metrics: tuple[str, ...] = AUDIO_METRICS) -> dict[str, Any]:
    """The features ``metrics`` compare, of a batch of clips ``(N, samples)``: compute a target's once and
    :func:`compare` it with many estimates.

    Memory: about 0.8 MB per 4-second clip at 22050 Hz for all metrics (most of it the SOT spectra and the MSS
    spectrograms), so compute them for a chunk of items at a time.
    """
    _check(metrics)
    x = _batch(audio)
    return {name: FEATURES[name](x, sample_rate) for name in dict.fromkeys(METRICS[k][0] for k in metrics)}


def compare(target: dict[str, Any], estimate: dict[str, Any],
            metrics: tuple[str, ...] = AUDIO_METRICS) -> dict[str, np.ndarray]:
    """``metrics`` per item between the :func:`features` of targets and of estimates of the same shape."""
    _check(metrics)
    return {key: np.asarray(METRICS[key][1](target[METRICS[key][0]], estimate[METRICS[key][0]]), dtype=np.float64)
            for key in metrics}


def _score(key: str, target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    both, n = _pair(target, estimate)
    feature = FEATURES[METRICS[key][0]](both, sample_rate)
    if isinstance(feature, list):
        return METRICS[key][1]([f[:n] for f in feature], [f[n:] for f in feature])
    return METRICS[key][1](feature[:n], feature[n:])


# --- the Flow Synthesizer code's variant ---------------------------------------------------------------------

def spectral_convergence_paper(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """``||P - P_hat||_F / ||P||_F`` on the power mels of :func:`paper_mel`, per item."""
    return _score("sc_paper", target, estimate, sample_rate)


def log_ratio_paper(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """``sum |ln(P + eps) - ln(P_hat + eps)| / sum |ln(P + eps)|`` on the power mels of :func:`paper_mel`
    (``eps =`` :data:`PAPER_LOG_EPS`), per item."""
    return _score("log_ratio_paper", target, estimate, sample_rate)


# --- Hayes, Saitis & Fazekas (ISMIR 2025) --------------------------------------------------------------------

def mss(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Multi-scale mel distance in dB, per item.

    At each resolution of :data:`MSS_SCALES` (window = FFT size, hop, bands from 0 Hz to Nyquist), the power
    mels are turned into dB relative to their own maximum and floored 80 dB below it; the distance is the mean
    absolute dB difference, averaged over the three resolutions. Since each spectrogram is referred to its own
    peak, the overall level does not count.
    """
    return _score("mss", target, estimate, sample_rate)


def sot(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral optimal transport, per item: the mean over STFT frames (:data:`SOT_FRAMES`) of the 1-D
    Wasserstein distance between the frames' magnitude spectra, each normalised to sum 1 over frequency, with
    frequency measured in units of the number of bins (so the distance lies in ``[0, 1]``)."""
    return _score("sot", target, estimate, sample_rate)


def envelope_cosine(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cosine similarity ``<r, r_hat> / (||r|| ||r_hat||)`` of the RMS envelopes (:func:`rms_envelope`), per item:
    1 for envelopes of the same shape at any level. Two silent clips score 1, one silent clip 0.

    Example:
        >>> import numpy as np
        >>> t = np.arange(22050) / 22050
        >>> note = np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
        >>> round(float(envelope_cosine(note, 0.5 * note, 22050)[0]), 6)
        1.0
    """
    return _score("env_cos", target, estimate, sample_rate)


def wmfcc(target: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """MFCC distance after dynamic time warping, per item: :func:`dtw_cost` of the matrix of mean absolute
    differences between every target frame's and every estimate frame's 20 MFCCs (:func:`mfcc`)."""
    return _score("wmfcc", target, estimate, sample_rate)


#: One function per metric of :data:`AUDIO_METRICS`: ``f(target, estimate, sample_rate) -> (N,)``.
FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "sc_paper": spectral_convergence_paper, "log_ratio_paper": log_ratio_paper, "mss": mss, "sot": sot,
    "env_cos": envelope_cosine, "wmfcc": wmfcc}


def audio_scores(target: np.ndarray, estimate: np.ndarray, sample_rate: int, chunk: int = 16,
                 metrics: tuple[str, ...] = AUDIO_METRICS) -> dict[str, np.ndarray]:
    """Every metric of :data:`AUDIO_METRICS` (or those named in ``metrics``) per item, ``chunk`` items at a time.

    Args:
        target: Target audio ``(N, samples)`` or one clip.
        estimate: Estimated audio of the same shape (the re-rendered presets).
        sample_rate: Sample rate of both, in Hz.
        chunk: Items per batch (bounds the memory of the features and DTW matrices).
        metrics: Keys of the metrics to compute.

    Returns:
        ``{key: (N,) float64 array}``.
    """
    t, e = _batch(target), _batch(estimate)
    if t.shape != e.shape:
        raise ValueError(f"target and estimate differ in shape: {tuple(t.shape)} vs {tuple(e.shape)}")
    _check(metrics)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in metrics}
    step = max(1, int(chunk))
    for start in range(0, t.shape[0], step):
        scores = compare(features(t[start:start + step], sample_rate, metrics),
                         features(e[start:start + step], sample_rate, metrics), metrics)
        for key, values in scores.items():
            parts[key].append(values)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
