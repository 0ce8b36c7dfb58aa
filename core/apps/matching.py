"""Sound matching: from any audio file to a preset of the synth that sounds like it.

Stages, each reported with its spectral convergence (SC) to the target:

1. ``model``: the run's prediction from the audio's log-mel;
2. ``+ latent samples``: Gaussian samples around the audio's latent code, decoded through ``p(v|z)`` (latent
   models only);
3. ``+ retrieval``: the nearest training presets in log-mel (when the training store is at hand);
4. ``+ refinement``: CMA-ES around the best candidates until the time budget is spent.

Every candidate is rendered by the real synth and ranked by SC; stages are cumulative (a stage keeps the best
candidate found so far). The target's level is arbitrary (a recording, a voice), so distances are level-matched:
each rendering is scaled by its least-squares gain before the SC is taken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import FeatureSettings, log_mel, magnitude_mel
from ..data.render import SynthPool
from ..data.store import PresetStore
from ..errors import PatchflowError
from ..presets import Preset
from ..progress import Progress, or_quiet
from ..runtime.distances import level_matched, spectral_convergence, spectrogram_mse
from ..runtime.inference import latent_samples, normalised_mel, predict_params
from ..runtime.rendering import presets_from_normalised
from ..runtime.retrieval import MelRetrieval
from ..runtime.run import Run
from ..runtime.search import AudioObjective, Candidate, refine


class AudioFileError(PatchflowError):
    """An audio file cannot be read or holds no sound."""


def load_target(path: str | Path, sample_rate: int, num_samples: int) -> np.ndarray:
    """Read any audio file as mono float32 at ``sample_rate``, trimmed or zero-padded to ``num_samples``.

    Raises:
        AudioFileError: The file cannot be decoded, or it is silent (peak below
            :data:`patchflow.data.render.SILENCE_PEAK`) or not finite.
    """
    import warnings

    import librosa

    from ..data.render import SILENCE_PEAK

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such audio file")
    try:
        with warnings.catch_warnings():  # librosa warns about its fallback decoders; the error below says enough
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(str(path), sr=sample_rate, mono=True)
    except Exception as exc:  # librosa/soundfile/audioread raise many unrelated types
        reason = str(exc).strip() or type(exc).__name__
        raise AudioFileError(f"{path}: cannot read audio ({reason}; is it an audio file?)") from None
    out = np.zeros(num_samples, dtype=np.float32)
    n = min(num_samples, len(audio))
    out[:n] = audio[:n]
    if not np.all(np.isfinite(out)):
        raise AudioFileError(f"{path}: the first {num_samples / sample_rate:.2f} s hold NaN or infinite samples")
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak < SILENCE_PEAK:
        raise AudioFileError(f"{path}: the first {num_samples / sample_rate:.2f} s are silent (peak {peak:.2g} < "
                             f"{SILENCE_PEAK:g}); nothing to match")
    return out


@dataclass
class MatchResult:
    """What :func:`match_sound` found.

    Attributes:
        candidates: Every distinct candidate scored, best first (``params`` normalised, ``distance`` in the
            search metric).
        stages: ``(stage name, best distance so far, renders so far, seconds so far)`` in order.
        target: The target audio as matched (mono, padded/trimmed).
        input_gain: Gain applied to the target before computing the model's features.
    """

    candidates: list[Candidate]
    stages: list[tuple[str, float, int, float]]
    target: np.ndarray
    input_gain: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> Candidate:
        """The best candidate."""
        return self.candidates[0]


def match_sound(run: Run, target: np.ndarray, *, base_preset: Preset, store: PresetStore | None = None,
                budget_seconds: float = 2.0, latent_count: int = 32, latent_sigma: float = 0.5,
                neighbours: int = 8, top: int = 3, workers: int | None = None, seed: int = 0,
                metric: str = "sc", progress: Progress | None = None) -> MatchResult:
    """Find parameters whose rendering sounds like ``target``.

    Args:
        run: A trained run.
        target: Mono audio at the run's sample rate and length (see :func:`load_target`).
        base_preset: Preset supplying the parameters the run does not learn (the store's base preset).
        store: The training store, for retrieval candidates and the training level (optional).
        budget_seconds: Time for the refinement stage (0 skips it).
        latent_count: Latent samples around the target's code (latent models only).
        latent_sigma: Their standard deviation.
        neighbours: Nearest training presets added as candidates (needs ``store``).
        top: Candidates refined by the local search.
        workers: Render threads.
        seed: Seed of sampling and search.
        metric: Distance that ranks candidates and drives the search (``sc`` or ``log_mse``, see
            :class:`~patchflow.runtime.search.AudioObjective`); stages report it.
        progress: Receives a line after each stage (default: quiet).
    """
    from ..data.importing import reference_peak

    say = or_quiet(progress).message
    start_time = time.monotonic()
    peak = float(np.max(np.abs(target)))
    level = reference_peak(store) if store is not None else None
    gain = level / peak if level and peak > 0 else 1.0
    raw_mel = log_mel(target[None] * gain, run.feature_settings)
    mel = normalised_mel(run, raw_mel)
    spec = run.feature_settings
    stages: list[tuple[str, float, int, float]] = []
    with SynthPool(run.synth_id, workers) as synths:
        objective = AudioObjective(target, synths, run.render_settings, base_preset, run.parameters, spec,
                                   match_level=True, metric=metric)
        pool: list[Candidate] = []

        def stage(name: str, params: np.ndarray, origin: str) -> None:
            if len(params):
                pool.extend(objective.rank(params, origin))
                pool.sort(key=lambda c: c.distance)
            stages.append((name, pool[0].distance, objective.renders, time.monotonic() - start_time))
            say(f"{name:<18} {metric} {pool[0].distance:.4f}  ({objective.renders} renders, "
                f"{stages[-1][3]:.1f} s)")

        stage("model", predict_params(run.model, mel), "model")
        if run.model.has_latent and latent_count > 0:
            generator = torch.Generator().manual_seed(seed)
            stage("+ latent samples", latent_samples(run.model, mel, latent_count, latent_sigma, generator)[0],
                  "latent")
        if store is not None and neighbours > 0:
            rows = store.split_indices("train")
            index = MelRetrieval(store.normalise_mel(np.asarray(store.mel.get_orthogonal_selection(
                (rows, slice(None), slice(None))), dtype=np.float32)),
                np.asarray(store.array("params").get_orthogonal_selection((rows, slice(None)))), rows=rows)
            positions, _ = index.search(store.normalise_mel(raw_mel.numpy()), k=neighbours)
            stage("+ retrieval", index.params[positions[0]], "retrieval")
        if budget_seconds > 0:
            pool[:] = refine(objective, pool, budget_seconds, top=top, seed=seed)
            stage("+ refinement", np.zeros((0, len(run.parameters))), "refined")
    unique: dict[bytes, Candidate] = {}
    for candidate in pool:
        unique.setdefault(run.parameters.to_native(candidate.params[None])[0].tobytes(), candidate)
    return MatchResult(list(unique.values()), stages, target, gain,
                       info={"renders": objective.renders, "seconds": time.monotonic() - start_time,
                             "level_matched": True, "metric": metric,
                             "spectrogram": spec.to_json()})


def write_match(result: MatchResult, run: Run, base_preset: Preset, out_dir: str | Path, *, top: int = 1,
                name: str = "match") -> dict[str, Any]:
    """Write the match: native preset file(s), rendered audio, a spectrogram picture and ``match.json``.

    Files: ``match<suffix>`` (the best preset in the synth's native format, e.g. ``.syx`` for Dexed),
    ``match.wav``, ``match.png`` (target vs match with the SC), and with ``top > 1`` also
    ``candidates<suffix>`` holding the ``top`` best presets and ``candidate-<k>.wav``. Audio is written at the
    engine's level, scaled down only if it would clip.

    ``match.json`` also holds ``metrics``: the evaluation's audio metrics of the best candidate against the
    target (``sc``, ``spec_mse`` and those of :mod:`patchflow.evaluation.audio_metrics`), with the rendering
    scaled by the gain that level-matches its mel spectrogram to the target's (``level_gain``), as for the SC.

    Returns:
        The paths written and the summary saved in ``match.json``.
    """
    import json

    from ..audio import headroom_gain, write_wav
    from ..evaluation.audio_metrics import audio_scores
    from ..evaluation.report import spectrogram_figure
    from ..plugins import find_writer, get_synth, write_presets

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = run.parameters
    chosen = result.candidates[:max(1, top)]
    presets = presets_from_normalised(base_preset, table, np.array([c.params for c in chosen]),
                                      names=[f"MATCH {k + 1}" if k else "MATCH" for k in range(len(chosen))])
    suffix = find_writer(run.synth_id).suffixes[0]
    files: dict[str, Any] = {"preset": write_presets(presets[:1], out / f"{name}{suffix}")}
    if len(presets) > 1:
        files["candidates"] = write_presets(presets, out / f"candidates{suffix}")
    synth = get_synth(run.synth_id)
    try:
        audio = [synth.render(p, run.render_settings) for p in presets]
    finally:
        synth.close()
    rate = run.render_settings.sample_rate
    files["audio"] = out / f"{name}.wav"
    gain = headroom_gain(audio)  # one gain for all candidates keeps their loudness comparable
    write_wav(files["audio"], audio[0] * gain, rate)
    for k, clip in enumerate(audio[1:], start=2):
        write_wav(out / f"candidate-{k}.wav", clip * gain, rate)
    spec = FeatureSettings.from_json(result.info["spectrogram"])
    target_spec = magnitude_mel(result.target, spec)
    raw_spec = magnitude_mel(audio[0], spec)
    match_spec = level_matched(target_spec, raw_spec)
    sc = float(spectral_convergence(target_spec, match_spec)[0])
    # the level-matching gain is linear in the audio too: the same gain applied to the waveform gives match_spec
    level_gain = float(match_spec.sum() / raw_spec.sum()) if raw_spec.sum() > 0 else 0.0
    metrics = {"sc": sc, "spec_mse": float(spectrogram_mse(target_spec, match_spec)[0]),
               **{k: float(v[0]) for k, v in audio_scores(result.target, audio[0] * level_gain, rate).items()}}
    files["figure"] = spectrogram_figure(target_spec, [("match (level-matched)", match_spec, sc)],
                                         out / f"{name}.png", title=f"{name}: SC {sc:.3f}")
    summary = {
        "synth": run.synth_id,
        "sc": sc,
        "metrics": metrics,
        "level_gain": level_gain,
        "stages": [{"stage": s, result.info["metric"]: d, "renders": n, "seconds": t}
                   for s, d, n, t in result.stages],
        "candidates": [{"rank": k + 1, result.info["metric"]: c.distance, "origin": c.origin,
                        "values": dict(zip(table.names, table.to_native(c.params[None])[0].tolist()))}
                       for k, c in enumerate(chosen)],
        "input_gain": result.input_gain,
        **result.info,
        "files": {k: str(v) for k, v in files.items()},
    }
    (out / f"{name}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    files["json"] = out / f"{name}.json"
    return {"files": files, "summary": summary}
