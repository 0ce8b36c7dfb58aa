"""Mel spectrograms, computed with torch: clip by clip on the CPU, in batches on other devices.

One recipe (:class:`FeatureSettings`) gives two outputs of one code path: the **linear-magnitude mel** that the
audio distances compare (:func:`magnitude_mel`) and the **log-mel** the models read (:func:`log_mel`, the same
spectrogram in decibels). The recipe follows the method's paper: magnitude spectrogram (FFT 2048, hop 1024, Hann
window, centred frames with zero padding), 128 mel bins between 30 and 11000 Hz (librosa's Slaney filters; the top
is clamped to the Nyquist frequency), log amplitude in decibels ``20 * log10(max(mel, 1e-5))`` (no per-clip
reference, no top-dB cut, so levels are comparable across clips). The magnitudes equal
``librosa.feature.melspectrogram(..., power=1, pad_mode="constant")`` and the log-mel equals
``librosa.amplitude_to_db(that, ref=1.0, amin=1e-5, top_db=None)`` within 0.01 dB for bins above -80 dB (see
``tests/test_features.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch

#: Off the CPU, batches are processed in slices of this many clips (larger tensors are slower to allocate than to
#: reuse). On the CPU clips go one at a time, which is faster still.
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
                                fmin=settings.fmin, fmax=min(settings.fmax, settings.sample_rate / 2))
    return torch.from_numpy(basis.astype(np.float32))


@lru_cache(maxsize=8)
def _sparse_mel_basis(settings: FeatureSettings) -> torch.Tensor:
    # Each frequency bin feeds at most two triangular filters: the basis is ~98% zeros, and a sparse product is
    # several times faster than the dense one on the CPU.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return _mel_basis(settings).to_sparse_csr()


@lru_cache(maxsize=8)
def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True)


def prepare(settings: FeatureSettings) -> None:
    """Build the filters of ``settings`` now (the first build imports librosa, a second or so) rather than inside
    a timed or parallel stage."""
    _sparse_mel_basis(settings)
    _window(settings.n_fft)


def log_mel(audio: np.ndarray | torch.Tensor, settings: FeatureSettings = FeatureSettings()) -> torch.Tensor:
    """Log-mel spectrograms (dB) of a batch of mono clips: what the models read.

    Args:
        audio: ``(B, samples)`` or ``(samples,)`` float audio at ``settings.sample_rate``.
        settings: The feature recipe.

    Returns:
        ``(B, n_mels, frames)`` float32 tensor in dB (``(n_mels, frames)`` for a single clip), on the input's
        device (CPU for numpy input).
    """
    return _mel(audio, settings, log=True)


def magnitude_mel(audio: np.ndarray | torch.Tensor, settings: FeatureSettings = FeatureSettings()) -> np.ndarray:
    """Linear-magnitude mel spectrograms ``(..., n_mels, frames)`` of mono audio ``(..., samples)``: what the audio
    distances compare (:mod:`patchflow.runtime.distances`).

    STFT magnitudes (power 1, not power 2) summed through the mel filters: :func:`log_mel` before the logarithm.
    """
    array = np.asarray(audio, dtype=np.float32)
    flat = array.reshape(-1, array.shape[-1]) if array.ndim else array.reshape(1, 1)
    mel = _mel(np.ascontiguousarray(flat), settings, log=False).numpy()
    return mel.reshape(array.shape[:-1] + mel.shape[-2:])


def _mel(audio: np.ndarray | torch.Tensor, settings: FeatureSettings, log: bool) -> torch.Tensor:
    x = torch.as_tensor(audio, dtype=torch.float32)
    single = x.ndim == 1
    if single:
        x = x.unsqueeze(0)
    if x.ndim != 2:
        raise ValueError(f"expected (batch, samples) audio, got shape {tuple(x.shape)}")
    if x.device.type == "cpu":
        out = torch.empty(x.shape[0], settings.n_mels, settings.frames(x.shape[1]))
        _featurize_into(x, out, settings, log)
    else:
        out = _mel_batched(x, settings, log)
    return out[0] if single else out


def log_mel_into(audio: np.ndarray | torch.Tensor, out: np.ndarray | torch.Tensor,
                 settings: FeatureSettings = FeatureSettings()) -> None:
    """Write the log-mels of ``(B, samples)`` CPU audio into ``out`` (``(B, n_mels, frames)``), clip by clip.

    The fast path of :func:`log_mel` for the dataset builder: no batch-sized temporaries, so a worker can reuse
    one output buffer per chunk.
    """
    x = torch.as_tensor(audio, dtype=torch.float32)
    target = torch.as_tensor(out)
    if target.shape != (x.shape[0], settings.n_mels, settings.frames(x.shape[1])):
        raise ValueError(f"output shape {tuple(target.shape)} does not fit audio of shape {tuple(x.shape)}")
    _featurize_into(x, target, settings, log=True)


def _featurize_into(x: torch.Tensor, out: torch.Tensor, settings: FeatureSettings, log: bool) -> None:
    featurizer = ClipFeaturizer(settings, x.shape[1], log=log)
    for i in range(x.shape[0]):
        featurizer(x[i], out[i])


class ClipFeaturizer:
    """Log-mels of clips of one length, one at a time, with every intermediate buffer allocated once.

    A centred STFT is the FFT of windowed frames of the zero-padded clip; reusing the buffers for them avoids
    allocating (and faulting in) fresh memory for every clip. Not thread-safe: one per thread.

    Args:
        settings: The feature recipe.
        samples: Length of every clip.
        log: Write log-mels in dB (what the models read); ``False`` writes linear magnitudes.
    """

    def __init__(self, settings: FeatureSettings, samples: int, log: bool = True) -> None:
        self.settings, self.samples, self.log = settings, samples, log
        half = settings.n_fft // 2
        frames = settings.frames(samples)
        self._basis = _sparse_mel_basis(settings)
        self._window = _window(settings.n_fft)
        self._padded = torch.zeros(samples + 2 * half)
        self._windowed = torch.empty(frames, settings.n_fft)
        # magnitudes stored bins-major, the layout the sparse product reads fastest
        self._magnitude = np.empty((half + 1, frames), dtype=np.float32)

    def __call__(self, clip: np.ndarray | torch.Tensor, out: np.ndarray | torch.Tensor) -> None:
        """Write the ``(n_mels, frames)`` mel spectrogram of one clip into ``out``."""
        s, half = self.settings, self.settings.n_fft // 2
        target = torch.as_tensor(out)
        with torch.no_grad():
            self._padded[half:half + self.samples] = torch.as_tensor(clip)
            torch.mul(self._padded.unfold(0, s.n_fft, s.hop), self._window, out=self._windowed)
            spectrum = torch.fft.rfft(self._windowed)
            # numpy's complex abs is several times faster than torch's on the CPU; writing it transposed costs
            # less than transposing afterwards
            np.abs(spectrum.numpy(), out=self._magnitude.T)
            if target.is_contiguous():
                torch.mm(self._basis, torch.from_numpy(self._magnitude), out=target)
            else:
                target.copy_(torch.mm(self._basis, torch.from_numpy(self._magnitude)))
            if self.log:
                target.clamp_(min=s.amin).log10_().mul_(20.0)


def _mel_batched(x: torch.Tensor, settings: FeatureSettings, log: bool = True) -> torch.Tensor:
    """The batched path of :func:`log_mel` and :func:`magnitude_mel`, for tensors off the CPU (torch's STFT)."""
    basis = _mel_basis(settings).to(x.device)
    window = _window(settings.n_fft).to(x.device)
    outputs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], SLICE):
            chunk = x[start:start + SLICE]
            spec = torch.stft(chunk, settings.n_fft, hop_length=settings.hop, window=window, center=True,
                              pad_mode="constant", return_complex=True).abs()
            mel = torch.matmul(basis, spec)
            outputs.append(20.0 * torch.log10(torch.clamp(mel, min=settings.amin)) if log else mel)
    return torch.cat(outputs) if outputs else torch.empty(0, settings.n_mels, settings.frames(x.shape[1]),
                                                          device=x.device)
