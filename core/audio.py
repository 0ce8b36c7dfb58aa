"""Reading and writing audio files."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Peak level written files are scaled to when the audio would otherwise clip.
SAFE_PEAK = 0.99


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
