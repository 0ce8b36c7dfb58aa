"""Sound matching: from any audio file to a preset of the synth that sounds like it.

Stages, each reported with its spectral convergence (SC) to the target:

1. ``model``: the run's prediction from the audio's log-mel;
2. ``+ latent samples``: Gaussian samples around the audio's latent code, decoded through ``p(v|z)`` (latent
   models only); ``+ model samples``: draws from the model's ``p(v|x)`` (models that can sample, ``flow_gen``);
3. ``+ retrieval``: the nearest training voices in log-mel (from the run's retrieval index
   (:mod:`patchflow.runtime.index`) or the training store);
4. ``+ refinement``: a local search around the best candidates until the time budget is spent.

Every candidate is rendered by the real synth and ranked by SC; stages are cumulative (a stage keeps the best
candidate found so far). The target's level is arbitrary (a recording, a voice), so distances are level-matched:
each rendering is scaled by its least-squares gain before the SC is taken.

**Pitch.** The model and the retrieval index learned one note (the store's, MIDI 60 by default). A target is read
with :func:`read_target`, which estimates its pitch (:func:`estimate_pitch`, a YIN estimator in numpy). The target
is then shifted to the run's note for the features the model and the retrieval read (resampled, like a tape played
faster or slower: pitch and speed change together), while every candidate is rendered at the target's own note and
scored against the original, unshifted sound.

**Length.** Leading silence is cut (the clip starts 10 ms before the first sample within 50 dB of the peak, when
that is later than 20 ms in). A longer sound is cut to the run's clip (4 s by default: the key held 3 s, then 1 s
of release), a shorter one padded with silence; :func:`read_target` says which in a line.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import AudioFileError, read_audio_file
from ..data.features import FeatureSettings, log_mel, magnitude_mel
from ..data.render import SILENCE_PEAK, SynthPool
from ..data.store import PresetStore
from ..parameters import ParameterTable
from ..presets import Preset
from ..progress import Progress, or_quiet
from ..runtime.distances import level_matched, spectral_convergence, spectrogram_mse
from ..runtime.index import VoiceIndex
from ..runtime.inference import latent_samples, model_samples, normalised_mel, predict_params
from ..runtime.rendering import lift_normalised, presets_from_normalised
from ..runtime.retrieval import MelRetrieval
from ..runtime.run import Run
from ..runtime.search import AudioObjective, Candidate, one_torch_thread, refine
from ..synth import RenderSettings

__all__ = ["AudioFileError", "MatchResult", "PitchEstimate", "Target", "distance_meaning", "estimate_pitch",
           "NEIGHBOURS", "REFINE_STARTS", "features_of_heard", "heard_sound", "load_target", "match_sound",
           "matching_facts", "read_target", "retrieval_level", "search_space", "write_match"]

#: Candidates the search of :func:`match_sound` starts from: the whole budget on the best one. Over whole voices
#: one search of 2 s does better than three of 0.67 s (the pretrained Dexed matcher's model card compares both,
#: ``scripts/matcher_card.py --refine-starts``).
REFINE_STARTS = 1
#: Retrieved voices ranked by rendering: of an index of whole voices, 32 ranked found closer starts than 8 for
#: held-out voices (the model card's ``--neighbours``), for about 0.06 s more of rendering.
NEIGHBOURS = 32

#: Lowest and highest pitch :func:`estimate_pitch` looks for, in Hz (E1 to C7, beyond a DX7 keyboard's 61 keys).
PITCH_RANGE = (40.0, 2100.0)
#: A frame is periodic when YIN's aperiodicity (the cumulative mean normalised difference at the period) is below
#: this.
PERIODIC = 0.2
#: A pitch is clear when at least this fraction of the sound's audible frames is periodic ...
VOICED_FRACTION = 0.5
#: ... and its periodic frames stay within this many semitones (interquartile range).
STEADY_SEMITONES = 1.0
#: Leading silence: the onset is the first sample within this many dB of the peak.
ONSET_DB = 50.0
#: The clip starts this long before the onset ...
ONSET_LEAD = 0.010
#: ... and nothing is cut when the onset is within this long of the start.
ONSET_KEEP = 0.020

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(note: int) -> str:
    """Scientific pitch name of a MIDI note: 60 is ``C4`` (middle C), 69 is ``A4``."""
    return f"{_NOTE_NAMES[int(note) % 12]}{int(note) // 12 - 1}"


def _midi(hz: np.ndarray | float) -> np.ndarray | float:
    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)


# --------------------------------------------------------------------------------------------------- pitch
@dataclass
class PitchEstimate:
    """What :func:`estimate_pitch` heard.

    Attributes:
        note: The MIDI note (rounded), or ``None`` when the sound has no clear pitch.
        hz: The median frequency of the periodic frames (``None`` when none is periodic).
        cents: How far ``hz`` lies from ``note`` (-50 to 50).
        periodic: Fraction of the sound's audible frames that are periodic (YIN aperiodicity below
            :data:`PERIODIC`), 0-1: the confidence.
        spread: Interquartile range of the periodic frames' pitch, in semitones.
        verdict: ``clear``, ``unsteady`` (periodic, but the pitch moves: a glide, vibrato, speech), ``weak
            fundamental`` (periodic at a frequency the sound hardly holds: a chord, or an inharmonic sound; ``note``
            is then its lowest strong partial) or ``none`` (noise, a dense chord, speech).
    """

    note: int | None
    hz: float | None
    cents: float
    periodic: float
    spread: float
    verdict: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"note": self.note, "name": note_name(self.note) if self.note is not None else None,
                "hz": None if self.hz is None else round(self.hz, 2), "cents": round(self.cents, 1),
                "periodic": round(self.periodic, 3), "spread_semitones": round(self.spread, 2),
                "verdict": self.verdict}


def _yin(audio: np.ndarray, sample_rate: int, frame: int, hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame frequency, aperiodicity and RMS of a clip by YIN (de Cheveigné and Kawahara, 2002): the difference
    function from FFT correlations, its cumulative mean normalised form, the first dip below :data:`PERIODIC`
    (else the lowest value), parabolic interpolation."""
    fmin, fmax = PITCH_RANGE
    tau_max = min(int(sample_rate / fmin) + 1, frame // 2)
    tau_min = max(2, int(sample_rate / fmax))
    width = frame - tau_max
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    count = 1 + (len(x) - frame) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop][:count]
    size = 1 << int(np.ceil(np.log2(frame + width)))
    correlation = np.fft.irfft(np.fft.rfft(frames, size, axis=1) * np.conj(np.fft.rfft(frames[:, :width], size,
                                                                                         axis=1)), size, axis=1)
    taus = np.arange(tau_max + 1)
    energy = np.concatenate([np.zeros((count, 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    difference = energy[:, [width]] + (energy[:, taus + width] - energy[:, taus]) - 2.0 * correlation[:, :tau_max + 1]
    difference = np.maximum(difference, 0.0)
    cumulative = np.cumsum(difference[:, 1:], axis=1)
    cmnd = np.ones_like(difference)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd[:, 1:] = np.where(cumulative > 0, difference[:, 1:] * taus[1:] / cumulative, 1.0)
    window = cmnd[:, tau_min:tau_max]
    below = window < PERIODIC
    # the first dip below the threshold, walked down to its local minimum (vectorised: the first index after the
    # dip's start where the curve rises again)
    start = np.where(below.any(axis=1), below.argmax(axis=1), window.argmin(axis=1))
    rising = np.concatenate([np.diff(window, axis=1) >= 0, np.ones((count, 1), dtype=bool)], axis=1)
    positions = np.arange(window.shape[1])[None, :]
    after = rising & (positions >= start[:, None])
    lowest = np.where(below.any(axis=1), after.argmax(axis=1), start)
    rows = np.arange(count)
    best = window[rows, lowest]
    tau = lowest + tau_min
    left, right = cmnd[rows, np.maximum(tau - 1, 1)], cmnd[rows, np.minimum(tau + 1, tau_max)]
    curvature = left - 2.0 * best + right
    safe = np.abs(curvature) > 1e-12
    shift = np.where(safe, 0.5 * (left - right) / np.where(safe, curvature, 1.0), 0.0)
    period = tau + np.clip(shift, -1.0, 1.0)
    return sample_rate / period, best, np.sqrt(np.mean(frames ** 2, axis=1))


def estimate_pitch(audio: np.ndarray, sample_rate: int) -> PitchEstimate:
    """The MIDI note of a sound, and how sure that is.

    YIN on 93 ms frames every 23 ms (at 22050 Hz) over the frames within 30 dB of the loudest. The pitch is clear
    when at least :data:`VOICED_FRACTION` of them are periodic and their pitch stays within
    :data:`STEADY_SEMITONES`; the note is the median of the periodic frames. When the sound is periodic at a
    frequency whose first two harmonics are almost absent (below a tenth of its strongest one: a chord such as
    C-E-G repeats at C two octaves down), the note is its lowest strong partial instead and the verdict says so.
    About 30 ms for a 4 s clip.
    """
    frame = 1 << int(np.ceil(np.log2(0.093 * sample_rate)))
    hop = frame // 4
    hz, aperiodicity, rms = _yin(audio, sample_rate, frame, hop)
    audible = rms > rms.max() * 10 ** (-30 / 20) if rms.max() > 0 else np.zeros(len(rms), dtype=bool)
    periodic = audible & (aperiodicity < PERIODIC) & np.isfinite(hz)
    fraction = float(periodic.sum() / max(1, audible.sum()))
    if fraction < VOICED_FRACTION or not periodic.any():
        return PitchEstimate(None, None, 0.0, fraction, 0.0, "none")
    pitches = _midi(hz[periodic])
    low, median, high = np.percentile(pitches, [25, 50, 75])
    spread = float(high - low)
    f0 = float(440.0 * 2 ** ((median - 69) / 12))
    verdict = "clear" if spread <= STEADY_SEMITONES else "unsteady"
    partial = _lowest_strong_partial(audio, sample_rate, f0, frame, hop, audible)
    if partial is not None and verdict == "clear":
        f0, verdict = partial, "weak fundamental"
        median = float(_midi(f0))
    note = int(np.clip(round(median), 0, 127))
    return PitchEstimate(note, f0, float((median - note) * 100), fraction, spread, verdict)


def _lowest_strong_partial(audio: np.ndarray, sample_rate: int, f0: float, frame: int, hop: int,
                           audible: np.ndarray) -> float | None:
    """The frequency of the lowest strong harmonic of ``f0`` when its first two are weak (below a tenth of the
    strongest), else ``None``."""
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop][:len(audible)]
    spectrum = np.abs(np.fft.rfft(frames[audible] * np.hanning(frame), axis=1)).mean(axis=0)
    bin_hz = sample_rate / frame
    harmonics = [k * f0 for k in range(1, 11) if k * f0 < sample_rate / 2 - bin_hz]
    if len(harmonics) < 3:
        return None
    amplitude = []
    for f in harmonics:
        reach = max(1, int(round(0.03 * f / bin_hz)))
        centre = int(round(f / bin_hz))
        amplitude.append(float(spectrum[max(0, centre - reach):centre + reach + 1].max()))
    strongest = max(amplitude)
    if strongest <= 0 or max(amplitude[:2]) >= 0.1 * strongest:
        return None
    k = next(i for i, a in enumerate(amplitude) if a >= 0.25 * strongest)
    return float(harmonics[k])


def describe_pitch(pitch: PitchEstimate, note: int, *, forced: bool, default_note: int) -> str:
    """The line that says which note the candidates play, and why."""
    if forced:
        heard = f"; heard {note_name(pitch.note)} (MIDI {pitch.note})" if pitch.note is not None else ""
        return f"note: MIDI {note} ({note_name(note)}), as --note says{heard}"
    if pitch.verdict == "none":
        return (f"note: no clear pitch (periodic in {pitch.periodic:.0%} of the sound: noise, a chord or speech?); "
                f"assumed MIDI {default_note} ({note_name(default_note)}), the model's note; --note N sets it")
    heard = f"{note_name(note)} (MIDI {note}, {pitch.hz:.1f} Hz, {pitch.cents:+.0f} cents)"
    if pitch.verdict == "unsteady":
        return (f"note: {heard}, the median of a pitch that moves over {pitch.spread:.1f} semitones (a glide, "
                f"vibrato or speech?); --note N sets it")
    if pitch.verdict == "weak fundamental":
        return (f"note: {heard}, the lowest strong partial of a sound whose fundamental is almost absent (a chord, "
                f"or an inharmonic sound?); --note N sets it")
    return f"note: {heard}, periodic in {pitch.periodic:.0%} of the sound"


# -------------------------------------------------------------------------------------------------- target
@dataclass
class Target:
    """A sound ready to be matched (see :func:`read_target`).

    Attributes:
        audio: The clip candidates are scored against: mono, at the run's rate and length, from the onset.
        sound: The whole sound from its onset (mono, at the run's rate), from which the pitch-shifted features are
            taken.
        path: The file it was read from.
        seconds: The file's duration.
        onset: Seconds of leading silence cut.
        pitch: The pitch heard.
        note: The note candidates play (the pitch heard, ``--note``, or the run's note when no pitch is clear).
        notes: Lines telling the user what was done to the sound (conversions, length, note).
    """

    audio: np.ndarray
    sound: np.ndarray
    path: Path
    seconds: float
    onset: float
    pitch: PitchEstimate
    note: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (no samples)."""
        return {"file": str(self.path), "seconds": round(self.seconds, 4), "onset_seconds": round(self.onset, 4),
                "pitch": self.pitch.to_json(), "notes": list(self.notes)}


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """``audio`` cut or zero-padded to ``num_samples`` (float32)."""
    out = np.zeros(num_samples, dtype=np.float32)
    n = min(num_samples, len(audio))
    out[:n] = audio[:n]
    return out


def onset_sample(audio: np.ndarray, sample_rate: int) -> int:
    """Where the clip of a sound starts: :data:`ONSET_LEAD` before the first sample within :data:`ONSET_DB` of the
    peak, or 0 when that is within :data:`ONSET_KEEP` of the start."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 0:
        return 0
    first = int(np.argmax(np.abs(audio) >= peak * 10 ** (-ONSET_DB / 20)))
    start = first - int(round(ONSET_LEAD * sample_rate))
    return start if start >= int(round(ONSET_KEEP * sample_rate)) else 0


def read_target(path: str | Path, settings: RenderSettings, *, note: int | None = None) -> Target:
    """Read a sound to match: decode it (:func:`patchflow.audio.read_audio_file`), cut its leading silence, fit
    it to the clip of ``settings`` and estimate its pitch (unless ``note`` is given).

    Raises:
        AudioFileError: The file cannot be read, is shorter than 50 ms or longer than 10 minutes, holds NaN, or is
            silent.
    """
    rate, clip_samples = settings.sample_rate, settings.num_samples
    decoded = read_audio_file(path, rate)
    lines = [f"read {Path(path).name}: {', '.join(decoded.conversions)}"] if decoded.conversions else []
    sound = decoded.audio
    peak = float(np.max(np.abs(sound))) if len(sound) else 0.0
    if not peak >= SILENCE_PEAK:
        raise AudioFileError(f"{path}: its {decoded.seconds:.2f} s are silent (peak {peak:.2g} < {SILENCE_PEAK:g}); "
                             "nothing to match")
    start = onset_sample(sound, rate)
    if start:
        lines.append(f"cut {start / rate:.2f} s of silence before the sound starts")
    sound = np.ascontiguousarray(sound[start:], dtype=np.float32)
    clip = fit_length(sound, clip_samples)
    length, clip_seconds = len(sound) / rate, clip_samples / rate
    released = settings.total_seconds - settings.note_seconds
    if len(sound) > clip_samples + 0.01 * rate:
        lines.append(f"length: the sound lasts {length:.2f} s; matched its first {clip_seconds:.2f} s, the model's "
                     f"clip (key held {settings.note_seconds:g} s, then {released:g} s of release)")
    elif len(sound) < clip_samples - 0.01 * rate:
        lines.append(f"length: the sound lasts {length:.2f} s; padded with silence to the model's "
                     f"{clip_seconds:.2f} s clip (candidates hold their key {settings.note_seconds:g} s, so sounds "
                     f"that fade within {length:.2f} s match best)")
    pitch = estimate_pitch(clip[:min(len(sound), clip_samples)], rate)
    chosen = note if note is not None else (pitch.note if pitch.note is not None else settings.note)
    lines.append(describe_pitch(pitch, chosen, forced=note is not None, default_note=settings.note))
    return Target(clip, sound, Path(path), decoded.seconds, start / rate, pitch, int(chosen), lines)


def load_target(path: str | Path, sample_rate: int, num_samples: int) -> np.ndarray:
    """Read any audio file as mono float32 at ``sample_rate``, from its onset, cut or zero-padded to
    ``num_samples`` (the clip :func:`read_target` makes, without the pitch).

    Raises:
        AudioFileError: The file cannot be decoded, is too short or too long, or is silent (peak below
            :data:`patchflow.data.render.SILENCE_PEAK`) or not finite.
    """
    decoded = read_audio_file(path, sample_rate)
    sound = decoded.audio
    peak = float(np.max(np.abs(sound))) if len(sound) else 0.0
    if not peak >= SILENCE_PEAK:
        raise AudioFileError(f"{path}: its {decoded.seconds:.2f} s are silent (peak {peak:.2g} < {SILENCE_PEAK:g}); "
                             "nothing to match")
    return fit_length(sound[onset_sample(sound, sample_rate):], num_samples)


def shift_to_note(sound: np.ndarray, sample_rate: int, from_note: int, to_note: int, num_samples: int) -> np.ndarray:
    """A sound moved from ``from_note`` to ``to_note`` by resampling (pitch and speed change together, as a tape
    played faster or slower), cut or padded to ``num_samples``."""
    if from_note == to_note:
        return fit_length(sound, num_samples)
    import soxr

    ratio = 2.0 ** ((to_note - from_note) / 12.0)
    # read at rate * ratio, written at rate: the sound plays ratio times faster, so ratio times higher
    needed = min(len(sound), int(np.ceil(num_samples * ratio)) + 64)
    shifted = soxr.resample(np.ascontiguousarray(sound[:needed], dtype=np.float32), sample_rate * ratio,
                            sample_rate, quality="HQ")
    return fit_length(np.asarray(shifted, dtype=np.float32), num_samples)


def sound_features(run: Run, sound: np.ndarray, from_note: int, level: float | None,
                   translate: Callable[[np.ndarray], np.ndarray] | None = None,
                   translate_audio: Callable[[np.ndarray], np.ndarray] | None = None
                   ) -> tuple[torch.Tensor, np.ndarray, float]:
    """What the model and the retrieval read of a sound: the sound moved from ``from_note`` to the run's note,
    optionally translated into the synth's domain as audio (``translate_audio``, before the level is set),
    scaled to peak ``level`` (none: unscaled), as log-mel, optionally translated into the synth's domain as
    log-mel (``translate``): :func:`features_of_heard` of :func:`heard_sound`.

    Returns:
        ``(model input (1, n_mels, frames), raw log-mel in dB (1, n_mels, frames), gain applied)``.
    """
    return features_of_heard(run, heard_sound(run, sound, from_note, translate_audio), level, translate)


def heard_sound(run: Run, sound: np.ndarray, from_note: int,
                translate_audio: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The sound moved from ``from_note`` to the run's note, at its rate and clip length, and translated as audio
    by ``translate_audio`` when given: what :func:`features_of_heard` reads."""
    base = run.render_settings
    heard = shift_to_note(sound, base.sample_rate, from_note, base.note, base.num_samples)
    if translate_audio is not None:
        heard = np.asarray(translate_audio(heard), dtype=np.float32)
    return heard


def features_of_heard(run: Run, heard: np.ndarray, level: float | None,
                      translate: Callable[[np.ndarray], np.ndarray] | None = None
                      ) -> tuple[torch.Tensor, np.ndarray, float]:
    """The model's input, the raw log-mel and the gain of :func:`sound_features`, from :func:`heard_sound`."""
    peak = float(np.max(np.abs(heard)))
    gain = level / peak if level and peak > 0 else 1.0
    raw = log_mel(heard[None] * gain, run.feature_settings)
    if translate is not None:
        raw = torch.from_numpy(np.ascontiguousarray(translate(raw.numpy()), dtype=np.float32))
    return normalised_mel(run, raw), raw.numpy(), gain


# ------------------------------------------------------------------------------------------------- matching
@dataclass
class MatchResult:
    """What :func:`match_sound` found.

    Attributes:
        candidates: Every distinct candidate scored, best first (``params`` normalised, ``distance`` in the
            search metric).
        stages: ``(stage name, best distance so far, renders so far, seconds so far)`` in order.
        target: The target audio as matched (mono, padded/trimmed).
        input_gain: Gain applied to the target before computing the model's features.
        settings: How the candidates were played (the run's settings at the matched note and velocity).
        base_preset: The preset the candidates' unlearned parameters came from.
        parameters: The parameters of the candidates' ``params``, in column order: the run's learned ones, or
            every parameter of a whole-voice index (see :func:`search_space`); ``None``: the run's.
        info: What ``match.json`` reports besides (metric, renders, seconds, retrieval, voices retrieved...).
    """

    candidates: list[Candidate]
    stages: list[tuple[str, float, int, float]]
    target: np.ndarray
    input_gain: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)
    settings: RenderSettings | None = None
    base_preset: Preset | None = None
    parameters: ParameterTable | None = None

    @property
    def best(self) -> Candidate:
        """The best candidate."""
        return self.candidates[0]


def _store_retrieval(store: PresetStore, raw_mel: np.ndarray, neighbours: int) -> tuple[np.ndarray, list[str]]:
    """The ``neighbours`` nearest training presets of a log-mel in the whole store (every training mel read)."""
    rows = store.split_indices("train")
    index = MelRetrieval(store.normalise_mel(store.read_rows("mel", rows, np.float32)), store.read_rows("params", rows),
                         rows=rows)
    positions, _ = index.search(store.normalise_mel(raw_mel), k=neighbours)
    names = store.names
    return index.params[positions[0]], [names[int(index.rows[p])] for p in positions[0]]


def retrieval_level(index: VoiceIndex | None, level: float | None) -> float | None:
    """The peak a sound is scaled to for retrieval from ``index``: the level of the store it was built from (an
    index of another store, whole voices, was built at that store's level), else ``level``."""
    if index is not None and index.meta.get("reference_peak"):
        return float(index.meta["reference_peak"])
    return level


def search_space(run: Run, index: VoiceIndex | None) -> ParameterTable:
    """The parameters a match searches: every parameter of ``index`` when it holds whole voices (more parameters
    than the run learns), else the run's learned ones.

    Over whole voices a retrieved voice plays as itself rather than projected on the run's parameters over the
    base preset, and the search may move any of its parameters; the model's proposals are completed by the base
    preset (:func:`patchflow.runtime.rendering.lift_normalised`).
    """
    if index is not None and index.is_voice_space(run.parameters):
        return index.parameters
    return run.parameters


def matching_facts(run: Run, store: PresetStore | None = None, index: VoiceIndex | None = None
                   ) -> tuple[Preset, float | None, str]:
    """The base preset and reference level a match uses, and where they came from.

    The run's own record first; runs trained before runs recorded them fall back to the retrieval index's record,
    then to the training store, then to the synth's default preset and no level scaling.
    """
    from ..data.importing import reference_peak
    from ..plugins import get_synth

    if run.base_preset is not None and run.reference_peak is not None:
        return run.base_preset, run.reference_peak, "the run"
    if index is not None and index.meta.get("base_preset") and index.meta.get("reference_peak"):
        return (run.base_preset or Preset.model_validate(index.meta["base_preset"]),
                run.reference_peak or float(index.meta["reference_peak"]), "its retrieval index's")
    if store is not None:
        return (run.base_preset or store.base_preset, run.reference_peak or reference_peak(store),
                "its training store's")
    return run.base_preset or get_synth(run.synth_id).default_preset(), run.reference_peak, "the synth's defaults"


def match_sound(run: Run, target: np.ndarray, *, base_preset: Preset | None = None, store: PresetStore | None = None,
                index: VoiceIndex | None = None, note: int | None = None, velocity: int | None = None,
                sound: np.ndarray | None = None, level: float | None = None, try_model_note: bool = True,
                budget_seconds: float = 2.0, latent_count: int = 32, latent_sigma: float = 0.5,
                neighbours: int = NEIGHBOURS, refine_starts: int = REFINE_STARTS, workers: int | None = None,
                seed: int = 0,
                metric: str = "sc+db", progress: Progress | None = None,
                sample_count: int | None = None,
                translate: Callable[[np.ndarray], np.ndarray] | None = None,
                translate_audio: Callable[[np.ndarray], np.ndarray] | None = None) -> MatchResult:
    """Find parameters whose rendering sounds like ``target``.

    Args:
        run: A trained run.
        target: Mono audio at the run's sample rate and length (see :func:`read_target`).
        base_preset: Preset supplying the parameters the run does not learn (default: see :func:`matching_facts`).
        store: The training store, for retrieval candidates (and the training level of runs that do not record
            it) when there is no ``index``.
        index: A retrieval index (:mod:`patchflow.runtime.index`): retrieval without the store.
        note: The note candidates are played at (default: the run's). The model and the retrieval read the sound
            shifted to the run's note.
        velocity: Their velocity (default: the run's).
        sound: The whole sound from its onset, to shift for the features (default: ``target``).
        level: Peak the sound is scaled to for the features (default: see :func:`matching_facts`; none: unscaled).
        try_model_note: When ``note`` is not the run's note, also score the proposals of the unshifted sound played
            at the run's note, and go on with that note if they do better (a voice the model learned may sound
            an octave off its key: transposition, frequency ratios). Pass ``False`` when the note is imposed.
        budget_seconds: Time for the refinement stage (0 skips it).
        latent_count: Latent samples around the target's code (latent models only).
        latent_sigma: Their standard deviation.
        sample_count: Draws from the model's ``p(v|x)`` (models that can sample); ``None``: ``latent_count``.
        neighbours: Nearest training voices added as candidates (needs ``index`` or ``store``). With an index of
            whole voices the search runs over every parameter of the voices (:func:`search_space`).
        refine_starts: Best candidates the local search starts from, the budget shared between them.
        workers: Render threads.
        seed: Seed of sampling and search.
        metric: Distance that ranks candidates and drives the search (``sc+db``, ``sc`` or ``log_mse``, see
            :class:`~patchflow.runtime.search.AudioObjective`); stages report it. The default, SC plus the dB
            distance, beat SC alone on both SC and MSS for recordings in the pretrained matcher's model card (SC
            alone made MSS worse than the retrieved voices it started from).
        progress: Receives a line after each stage (default: quiet).
        translate: Maps the sound's dB log-mel ``(1, n_mels, frames)`` to the one the model and the retrieval read
            (:meth:`patchflow.runtime.translation.Translator.translate_mel`: the sound translated into the synth's
            domain); candidates are still rendered and compared with the sound itself.
        translate_audio: Maps the sound (moved to the run's note, at its rate and length) to audio the model and
            the retrieval read instead (:meth:`patchflow.runtime.translation.Translator.translate_wave`: a UMT
            translation into the synth's domain); candidates are still compared with the sound itself.
    """
    say = or_quiet(progress).message
    start_time = time.monotonic()
    base = run.render_settings
    settings = replace(base, note=int(base.note if note is None else note),
                       velocity=int(base.velocity if velocity is None else velocity))
    if base_preset is None or level is None:
        known_base, known_level, _ = matching_facts(run, store, index)
        base_preset = known_base if base_preset is None else base_preset
        level = known_level if level is None else level
    whole = target if sound is None else sound

    heard: dict[int, np.ndarray] = {}  # one shift (and translation) per note, read at one or two levels

    def features_at(from_note: int, at_level: float | None = level) -> tuple[torch.Tensor, np.ndarray, float]:
        if from_note not in heard:
            heard[from_note] = heard_sound(run, whole, from_note, translate_audio)
        return features_of_heard(run, heard[from_note], at_level, translate)

    index_level = retrieval_level(index, level)

    def neighbours_of(raw: np.ndarray, from_note: int) -> tuple[np.ndarray, list[str], str]:
        if neighbours > 0 and index is not None:
            if level and index_level != level:
                raw = features_at(from_note, index_level)[1]
            positions, _ = index.search(raw, k=neighbours)
            return (index.params[positions[0]], [index.names[p] for p in positions[0]],
                    f"index ({len(index)} voices, {index.dims} dimensions)")
        if neighbours > 0 and store is not None:
            params, names = _store_retrieval(store, raw, neighbours)
            return params, names, f"store ({len(store.split_indices('train'))} training presets)"
        return np.zeros((0, len(space))), [], "none"

    with one_torch_thread():
        mel, raw_mel, gain = features_at(settings.note)
    spec = run.feature_settings
    stages: list[tuple[str, float, int, float]] = []
    space = search_space(run, index)

    def lifted(params: np.ndarray) -> np.ndarray:
        return lift_normalised(params, run.parameters, space, base_preset)

    with one_torch_thread(), SynthPool(run.synth_id, workers) as synths:
        objective = AudioObjective(target, synths, settings, base_preset, space, spec,
                                   match_level=True, metric=metric)
        objectives = [objective]
        pool: list[Candidate] = []

        def stage(name: str, params: np.ndarray, origin: str) -> None:
            if len(params):
                pool.extend(objective.rank(params, origin))
                pool.sort(key=lambda c: c.distance)
            renders = sum(o.renders for o in objectives)
            stages.append((name, pool[0].distance, renders, time.monotonic() - start_time))
            say(f"{name:<18} {metric} {pool[0].distance:.4f}  ({renders} renders, {stages[-1][3]:.1f} s)")

        stage("model", lifted(predict_params(run.model, mel)), "model")
        if run.model.has_latent and latent_count > 0:
            generator = torch.Generator().manual_seed(seed)
            stage("+ latent samples",
                  lifted(latent_samples(run.model, mel, latent_count, latent_sigma, generator)[0]), "latent")
        count = latent_count if sample_count is None else sample_count
        if run.model.can_sample and count > 0:
            generator = torch.Generator().manual_seed(seed)
            stage("+ model samples", lifted(model_samples(run.model, mel, count, generator)[0]), "model samples")
        found, retrieved, retrieval = neighbours_of(raw_mel, settings.note)
        if len(found):
            stage("+ retrieval", found, "retrieval")
        tried = [settings.note]
        if try_model_note and settings.note != base.note:
            # the voices the model learned sound at many pitches when played at its note (transposition, frequency
            # ratios): the same proposals from the unshifted sound, played at the model's note, may do better
            other = AudioObjective(target, synths, replace(settings, note=base.note), base_preset, space, spec,
                                   match_level=True, metric=metric)
            objectives.append(other)
            tried.append(base.note)
            plain, plain_raw, plain_gain = features_at(base.note)
            proposals, origins = [lifted(predict_params(run.model, plain))], ["model"]
            if run.model.has_latent and latent_count > 0:
                generator = torch.Generator().manual_seed(seed)
                proposals.append(lifted(latent_samples(run.model, plain, latent_count, latent_sigma, generator)[0]))
                origins.append("latent")
            plain_found, plain_retrieved, _ = neighbours_of(plain_raw, base.note)
            proposals.append(plain_found)
            origins.append("retrieval")
            labels = [o for o, p in zip(origins, proposals) for _ in range(len(p))]
            ranked = other.rank(np.concatenate(proposals), labels)
            if ranked[0].distance < pool[0].distance:
                say(f"the model's note, MIDI {base.note} ({note_name(base.note)}), plays the sound better than MIDI "
                    f"{settings.note}: kept")
                objective, settings, gain, retrieved = other, other.settings, plain_gain, plain_retrieved
                pool[:] = ranked
            stage(f"+ at MIDI {base.note}", np.zeros((0, len(space))), "")
        if budget_seconds > 0:
            pool[:] = refine(objective, pool, budget_seconds, top=refine_starts, seed=seed)
            stage("+ refinement", np.zeros((0, len(space))), "refined")
    unique: dict[bytes, Candidate] = {}
    for candidate in pool:
        unique.setdefault(space.to_native(candidate.params[None])[0].tobytes(), candidate)
    return MatchResult(list(unique.values()), stages, target, gain,
                       info={"renders": sum(o.renders for o in objectives), "seconds": time.monotonic() - start_time,
                             "level_matched": True, "metric": metric, "note": settings.note,
                             "velocity": settings.velocity, "notes_tried": tried, "model_note": base.note,
                             "shifted_semitones": base.note - settings.note, "retrieval": retrieval,
                             "retrieved": retrieved, "spectrogram": spec.to_json(),
                             "translated": translate is not None or translate_audio is not None},
                       settings=settings, base_preset=base_preset, parameters=space)


# ---------------------------------------------------------------------------------------------- the meaning
def distance_meaning(metric: str, value: float) -> str:
    """One line telling what a distance of the match means."""
    if metric == "log_mse":
        return (f"log_mse {value:.3f}: mean squared difference of the log mel spectrograms (natural log), "
                "level-matched; lower is better, 0 is identical")
    verdict = ("very close" if value < 0.1 else "close" if value < 0.3 else "similar in places" if value < 0.6
               else "a different sound")
    return (f"SC {value:.3f} ({verdict}): the level-matched spectral convergence of the mel spectrograms, "
            "||target - match|| / ||target||; lower is better: 0 is identical, 1 is as far as silence; under 0.1 "
            "is hard to tell apart, 0.1-0.3 close, above 0.6 a different sound")


# ---------------------------------------------------------------------------------------------------- files
def _write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """``write(temporary)`` beside ``path``, then renamed to ``path``: a file appears whole or not at all."""
    # a fresh name that the writer creates itself (with the usual permissions, unlike mkstemp's private file),
    # ending in the same suffix so that writers choosing a format by suffix choose the same
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_match(result: MatchResult, run: Run, base_preset: Preset | None, out_dir: str | Path, *, top: int = 1,
                name: str = "match", target_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the match: native preset file(s), rendered audio, a spectrogram picture and ``match.json``.

    Files: ``match<suffix>`` (the best preset in the synth's native format, e.g. ``.syx`` for Dexed),
    ``match.wav``, ``match.png`` (target vs match, seconds and Hz on the axes, a colour bar in dB, with the SC), and
    with ``top > 1`` also ``candidates<suffix>`` holding the ``top`` best presets and ``rank-1.wav`` ...
    ``rank-<top>.wav``. Audio is played at the match's note and velocity and written at the engine's level, scaled
    down only if it would clip. Each file is written to a temporary name and renamed, preset files first, so a
    failure leaves only whole files behind; the folder is made only when the first is written.

    ``match.json`` also holds ``metrics``: the evaluation's audio metrics of the best candidate against the
    target (``sc``, ``spec_mse`` and those of :mod:`patchflow.evaluation.audio_metrics`), with the rendering
    scaled by the gain that level-matches its mel spectrogram to the target's (``level_gain``), as for the SC.

    Returns:
        The paths written and the summary saved in ``match.json``.
    """
    with one_torch_thread():
        return _write_match(result, run, base_preset, Path(out_dir), top=top, name=name, target_info=target_info)


def _write_match(result: MatchResult, run: Run, base_preset: Preset | None, out: Path, *, top: int, name: str,
                 target_info: dict[str, Any] | None) -> dict[str, Any]:
    from ..audio import headroom_gain, write_wav
    from ..evaluation.audio_metrics import audio_scores
    from ..evaluation.report import spectrogram_figure
    from ..plugins import find_writer, get_synth, write_presets

    if base_preset is None:
        base_preset = result.base_preset or run.base_preset or get_synth(run.synth_id).default_preset()
    settings = result.settings or run.render_settings
    table = result.parameters or run.parameters
    chosen = result.candidates[:max(1, top)]
    presets = presets_from_normalised(base_preset, table, np.array([c.params for c in chosen]),
                                      names=[f"MATCH {k + 1}" if k else "MATCH" for k in range(len(chosen))])
    synth = get_synth(run.synth_id)
    try:
        audio = [synth.render(p, settings) for p in presets]
    finally:
        synth.close()
    suffix = find_writer(run.synth_id).suffixes[0]
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {"preset": _write_atomic(out / f"{name}{suffix}",
                                                     lambda p: write_presets(presets[:1], p))}
    if len(presets) > 1:
        files["candidates"] = _write_atomic(out / f"candidates{suffix}", lambda p: write_presets(presets, p))
    rate = settings.sample_rate
    gain = headroom_gain(audio)  # one gain for all candidates keeps their loudness comparable
    files["audio"] = _write_atomic(out / f"{name}.wav", lambda p: write_wav(p, audio[0] * gain, rate))
    if len(presets) > 1:
        files["ranks"] = [_write_atomic(out / f"rank-{k}.wav", lambda p, clip=clip: write_wav(p, clip * gain, rate))
                          for k, clip in enumerate(audio, start=1)]
    spec = FeatureSettings.from_json(result.info["spectrogram"])
    target_spec = magnitude_mel(result.target, spec)
    raw_spec = magnitude_mel(audio[0], spec)
    match_spec = level_matched(target_spec, raw_spec)
    sc = float(spectral_convergence(target_spec, match_spec)[0])
    # the level-matching gain is linear in the audio too: the same gain applied to the waveform gives match_spec
    level_gain = float(match_spec.sum() / raw_spec.sum()) if raw_spec.sum() > 0 else 0.0
    metrics = {"sc": sc, "spec_mse": float(spectrogram_mse(target_spec, match_spec)[0]),
               **{k: float(v[0]) for k, v in audio_scores(result.target, audio[0] * level_gain, rate).items()}}
    files["figure"] = _write_atomic(out / f"{name}.png", lambda p: spectrogram_figure(
        target_spec, [("match (level-matched)", match_spec, sc)], p, title=f"{name}: SC {sc:.3f}", features=spec))
    metric = result.info["metric"]
    summary = {
        "synth": run.synth_id,
        "sc": sc,
        "meaning": distance_meaning("sc", sc),
        "metrics": metrics,
        "level_gain": level_gain,
        "stages": [{"stage": s, metric: d, "renders": n, "seconds": t} for s, d, n, t in result.stages],
        "candidates": [{"rank": k + 1, metric: c.distance, "origin": c.origin,
                        "values": dict(zip(table.names, table.to_native(c.params[None])[0].tolist()))}
                       for k, c in enumerate(chosen)],
        "input_gain": result.input_gain,
        **result.info,
        "run": str(run.run_dir),
        **({"target": target_info} if target_info else {}),
        "files": {k: [str(p) for p in v] if isinstance(v, list) else str(v) for k, v in files.items()},
    }
    files["json"] = out / f"{name}.json"
    _write_atomic(files["json"], lambda p: p.write_text(json.dumps(summary, indent=1), encoding="utf-8"))
    return {"files": files, "summary": summary}
