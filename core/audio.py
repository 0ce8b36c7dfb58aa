"""Reading and writing audio files."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import PatchflowError

#: Peak level written files are scaled to when the audio would otherwise clip.
SAFE_PEAK = 0.99
#: The shortest sound :func:`read_audio_file` accepts by default, in seconds (shorter holds no note to hear).
MIN_SECONDS = 0.05
#: The longest file :func:`read_audio_file` decodes by default, in seconds (one note, not an album).
MAX_SECONDS = 600.0


class AudioFileError(PatchflowError):
    """An audio file cannot be read, or holds nothing usable (too short, too long, not finite, silent)."""


@dataclass
class AudioFile:
    """A decoded audio file, mixed to mono and resampled.

    Attributes:
        audio: Mono float32 samples at :attr:`sample_rate` (the whole file).
        sample_rate: The rate asked for.
        source_rate: The file's own sample rate.
        channels: The file's channel count.
        seconds: The file's duration.
        conversions: What was done to it, in words (``mixed 2 channels to mono``, ``resampled 48000 Hz to
            22050 Hz``); empty when it was read as it is.
    """

    audio: np.ndarray
    sample_rate: int
    source_rate: int
    channels: int
    seconds: float
    conversions: list[str] = field(default_factory=list)


def read_audio_file(path: str | Path, sample_rate: int, *, min_seconds: float = MIN_SECONDS,
                    max_seconds: float = MAX_SECONDS) -> AudioFile:
    """Read any audio file as mono float32 at ``sample_rate``.

    libsndfile (through ``soundfile``) decodes WAV, FLAC, OGG, MP3, AIFF and more; other formats go through
    librosa's fallback decoders. Channels are averaged; other rates are resampled with ``soxr`` (high quality, as
    ``librosa.load``). The duration is checked from the header before anything is decoded.

    Raises:
        AudioFileError: No such file, not decodable, shorter than ``min_seconds``, longer than ``max_seconds``, or
            holding NaN or infinite samples. The message is one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such audio file" + (" (a folder)" if path.is_dir() else ""))
    mono, rate, channels, bad = _decode(path, max_seconds)
    seconds = len(mono) / rate
    if bad:
        raise AudioFileError(f"{path}: {bad} of its samples are NaN or infinite; not a sound to match")
    if seconds < min_seconds:
        raise AudioFileError(f"{path}: the sound is {seconds * 1000:.0f} ms long; the shortest sound matched is "
                             f"{min_seconds * 1000:.0f} ms")
    conversions: list[str] = []
    if channels > 1:
        conversions.append(f"mixed {channels} channels to mono")
    if rate != sample_rate:
        import soxr

        mono = np.ascontiguousarray(soxr.resample(mono, rate, sample_rate, quality="HQ"), dtype=np.float32)
        conversions.append(f"resampled {rate} Hz to {sample_rate} Hz")
    return AudioFile(mono, int(sample_rate), int(rate), channels, seconds, conversions)


def _too_long(path: Path, seconds: float, max_seconds: float) -> AudioFileError:
    return AudioFileError(f"{path}: the sound is {seconds / 60:.1f} minutes long; at most {max_seconds / 60:g} "
                          f"minutes are read (cut out the note to match)")


#: Frames decoded at a time: a long multichannel file is mixed to mono block by block, never held whole.
_BLOCK = 1 << 18


def _decode(path: Path, max_seconds: float) -> tuple[np.ndarray, int, int, int]:
    """Mono float32 samples, rate, channel count and the number of non-finite samples of a file: libsndfile
    first (checked against ``max_seconds`` from its header, then decoded block by block), librosa's decoders
    for what it refuses."""
    import soundfile

    try:
        handle = soundfile.SoundFile(str(path))
    except Exception as first:  # libsndfile refuses the file: another decoder may know it
        return _decode_fallback(path, first, max_seconds)
    with handle:
        rate, channels = int(handle.samplerate), int(handle.channels)
        if rate <= 0 or channels <= 0:
            raise AudioFileError(f"{path}: cannot read audio (its header gives {channels} channels at {rate} Hz)")
        if handle.frames / rate > max_seconds:
            raise _too_long(path, handle.frames / rate, max_seconds)
        parts, bad, limit = [], 0, int(max_seconds * rate) + 1
        try:
            while True:
                block = handle.read(_BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    break
                finite = np.isfinite(block)
                if not finite.all():
                    bad += int(block.size - np.count_nonzero(finite))
                parts.append(block.mean(axis=1, dtype=np.float32) if channels > 1 else block[:, 0].copy())
                if sum(len(p) for p in parts) > limit:  # a header that understated the length
                    raise _too_long(path, sum(len(p) for p in parts) / rate, max_seconds)
        except AudioFileError:
            raise
        except Exception as exc:
            raise AudioFileError(f"{path}: cannot read audio ({_reason(exc, path)}; is it an audio file?)") from None
    mono = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return mono, rate, channels, bad


def _decode_fallback(path: Path, first: Exception, max_seconds: float) -> tuple[np.ndarray, int, int, int]:
    try:
        import librosa

        with warnings.catch_warnings():  # librosa warns about its fallback decoders; the error below says enough
            warnings.simplefilter("ignore")
            audio, rate = librosa.load(str(path), sr=None, mono=False, duration=max_seconds + 1)
    except Exception:  # librosa/audioread raise many unrelated types
        raise AudioFileError(f"{path}: cannot read audio ({_reason(first, path)}; is it an audio file?)") from None
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if audio.shape[1] / rate > max_seconds:
        raise _too_long(path, audio.shape[1] / rate, max_seconds)
    bad = int(audio.size - np.count_nonzero(np.isfinite(audio)))
    return audio.mean(axis=0, dtype=np.float32), int(rate), int(audio.shape[0]), bad


def _reason(exc: BaseException, path: Path) -> str:
    """A decoder's reason for refusing a file, without the path it repeats (or its type when it says nothing)."""
    text = str(exc).replace(f"'{path}'", "").replace(str(path), "").strip()
    text = text.removeprefix("Error opening").strip(" :")
    if not text or "does not exist" in text:
        return "not a recognised audio format, or damaged"
    return text.splitlines()[0][:200].rstrip(".")


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int, *, normalise: bool = False) -> float:
    """Write mono or ``(channels, samples)`` audio as 16-bit PCM WAV and return the gain applied.

    Synth engines are not bound to ``[-1, 1]`` (Dexed peaks above 2). Audio is never clipped silently: if its
    peak exceeds 1 (or ``normalise`` is set) it is scaled to a peak of :data:`SAFE_PEAK` and a warning says by how
    much.

    Raises:
        ValueError: The audio holds NaN or infinite samples.
    """
    import soundfile

    data = np.asarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise ValueError("audio holds NaN or infinite samples; refusing to write it")
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    gain = 1.0
    if peak > 0 and (normalise or peak > 1.0):
        gain = SAFE_PEAK / peak
        if peak > 1.0 and not normalise:
            warnings.warn(f"{path}: peak {peak:.2f} would clip; scaled by {gain:.3f}", stacklevel=2)
    data = data * gain
    if data.ndim == 2:
        data = data.T
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data, int(sample_rate), subtype="PCM_16")
    return gain


def headroom_gain(clips: Sequence[np.ndarray]) -> float:
    """One gain for a group of clips that keeps the loudest below clipping (1 when none would clip).

    Write related clips (a sound and its neighbours, a target and its match) with the same gain so their
    loudness stays comparable.
    """
    peak = max((float(np.max(np.abs(c))) for c in clips if np.size(c)), default=0.0)
    return SAFE_PEAK / peak if peak > 1.0 else 1.0
