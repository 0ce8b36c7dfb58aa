"""The evaluation protocol: infer parameters for the test split, re-render them, score them against the targets.

Rows of the result are *methods*: references that need no model (the training-set mean parameters,
nearest-neighbour retrieval in log-mel over the training split and, with a search budget, retrieval followed by the
same synth-in-the-loop search the model rows get), one row per trained run, and optionally, for each run, the
synth-in-the-loop stages (``+ retrieval``: the best of the model's prediction, latent samples, samples of a
generative model's ``p(v | x)`` and the nearest training presets, ranked by rendering them; ``+ refinement``: a
local search from there within a time budget).

Every inferred preset is re-rendered through the real synth with the store's render settings (same note, velocity
and lengths as the targets), so audio errors are those of the synth's actual sound. Each rendering is scored with
the two distances of :mod:`patchflow.runtime.distances` and the metrics of
:mod:`patchflow.evaluation.audio_metrics`; summaries carry a bootstrap confidence interval of every mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.features import FeatureSettings, magnitude_mel
from ..data.render import SynthPool
from ..data.store import PresetStore
from ..errors import PatchflowError
from ..progress import Progress, or_quiet
from ..parameters import ParameterTable
from ..presets import Preset
from ..runtime import distances as D
from ..runtime.inference import latent_samples, model_samples, normalised_mel, predict_params
from ..runtime.rendering import render_normalised
from ..runtime.retrieval import MelRetrieval
from ..runtime.run import Run
from ..runtime.search import AudioObjective, refine
from ..synth import RenderSettings, Synth
from . import audio_metrics as A
from . import metrics as M

MEAN_ROW = "Mean (train)"
RETRIEVAL_ROW = "Retrieval (NN log-mel)"
#: The nearest training presets as starts, refined with the model rows' budget and search (no model).
RETRIEVAL_REFINEMENT_ROW = "Retrieval + refinement"


class EvaluationError(PatchflowError):
    """Runs and stores that cannot be evaluated together (different synths or parameters)."""


@dataclass
class EvalSettings:
    """Options of :func:`evaluate`.

    Attributes:
        max_items: Score only the first ``max_items`` test rows (all when ``None``).
        max_ood_items: Same for each out-of-domain set.
        refine_budget: Seconds of synth-in-the-loop search per item for the ``+ refinement`` rows and the
            ``Retrieval + refinement`` reference (0: none of these rows).
        latent_samples: Latent samples per item among the ``+ retrieval`` candidates.
        latent_sigma: Standard deviation of those samples around the encoded latent.
        model_samples: Draws from the model's ``p(v | x)`` per item among the ``+ retrieval`` candidates, for
            models that can sample (``flow_gen``); ``None``: as many as ``latent_samples``.
        neighbours: Nearest training presets among each model's ``+ retrieval`` candidates.
        reference_candidates: Nearest training presets that ``Retrieval + refinement`` ranks before refining;
            ``None``: as many candidates as the largest model row ranks (at least ``neighbours``), so that the
            reference and the models' search rows render as many candidates per item.
        workers: Render threads (default: usable CPUs).
        examples: Number of test items drawn as spectrogram figures.
        seed: Seed of latent sampling and refinement.
        search_metric: Distance that ranks the stage candidates and drives the refinement (``sc`` or
            ``log_mse``).
    """

    max_items: int | None = None
    max_ood_items: int | None = None
    refine_budget: float = 0.0
    latent_samples: int = 16
    latent_sigma: float = 0.5
    model_samples: int | None = None
    neighbours: int = 4
    reference_candidates: int | None = None
    workers: int | None = None
    examples: int = 3
    seed: int = 0
    search_metric: str = "sc"


@dataclass
class Domain:
    """Targets of one evaluation set.

    Attributes:
        name: ``test`` or the out-of-domain set's name.
        rows: Store rows of the items.
        audio: Target audio ``(N, samples)``.
        log_mel: Raw log-mel (dB) of the targets ``(N, n_mels, frames)``.
        params: Normalised target parameters ``(N, P)`` (``None`` for out-of-domain sets).
        spectrogram: Magnitude mel spectrograms of the targets (:func:`patchflow.data.features.magnitude_mel`).
    """

    name: str
    rows: np.ndarray
    audio: np.ndarray
    log_mel: np.ndarray
    params: np.ndarray | None
    spectrogram: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]


@dataclass
class RowResult:
    """Per-item results of one method on every domain.

    Attributes:
        name: Row label.
        kind: ``reference``, ``model`` or ``stage``.
        params: Inferred normalised parameters per domain.
        scores: Per-item metric arrays per domain: ``sc``, ``spec_mse``, the audio metrics of
            :data:`patchflow.evaluation.audio_metrics.AUDIO_METRICS` and, in domain, ``param_mse`` and
            ``accuracy`` (when the parameters include categorical ones).
        spectrograms: Magnitude mel spectrograms of the re-rendered examples per domain (for figures).
    """

    name: str
    kind: str
    params: dict[str, np.ndarray] = field(default_factory=dict)
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    spectrograms: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass
class Evaluation:
    """Everything :func:`evaluate` found; :mod:`patchflow.evaluation.report` writes it out."""

    rows: list[RowResult]
    domains: list[Domain]
    features: FeatureSettings
    info: dict[str, Any]

    def summary(self, confidence: float = M.CONFIDENCE, resamples: int = M.BOOTSTRAP_RESAMPLES,
                seed: int = M.BOOTSTRAP_SEED) -> dict[str, Any]:
        """Mean / std / median / count and the bootstrap confidence interval of the mean
        (:func:`patchflow.evaluation.metrics.summarise`) of every metric of every row and domain, as JSON-ready
        data."""
        def stats(values: np.ndarray) -> dict[str, float]:
            return M.summarise(values, confidence=confidence, resamples=resamples, seed=seed)

        return {row.name: {"kind": row.kind,
                           **{d: {m: stats(v) for m, v in scores.items()} for d, scores in row.scores.items()}}
                for row in self.rows}

    def comparisons(self, domain: str = "test", metric: str = "sc") -> list[dict[str, Any]]:
        """Paired comparisons of every two rows on one domain's per-item metric."""
        out = []
        rows = [r for r in self.rows if domain in r.scores and metric in r.scores[domain]]
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                out.append({"a": a.name, "b": b.name, "domain": domain, "metric": metric,
                            **M.paired_comparison(a.scores[domain][metric], b.scores[domain][metric])})
        return out


def _cap(rows: np.ndarray, limit: int | None) -> np.ndarray:
    return rows if limit is None else rows[:max(0, int(limit))]


def _domain(store: PresetStore, rows: np.ndarray, name: str, features: FeatureSettings,
            with_params: bool) -> Domain:
    rows = np.asarray(rows, dtype=np.int64)
    audio = store.read_rows("audio", rows, np.float32) if len(rows) else np.zeros((0, 0), dtype=np.float32)
    log_mel = store.read_rows("mel", rows, np.float32)
    params = None
    if with_params:
        params = store.read_rows("params", rows, np.float64)
    return Domain(name, rows, audio, log_mel, params, magnitude_mel(audio, features))


def _check_compatible(runs: Sequence[Run], store: PresetStore) -> None:
    for run in runs:
        if run.synth_id != store.synth_id:
            raise EvaluationError(f"run {run.name} learned {run.synth_id!r}, the store holds {store.synth_id!r}")
        if list(run.parameters.names) != list(store.parameters.names):
            raise EvaluationError(f"run {run.name} learned other parameters than the store {store.path} "
                                  f"({len(run.parameters)} vs {len(store.parameters)})")


def evaluate(runs: Sequence[Run], store: PresetStore, ood: Sequence[tuple[str, PresetStore]] = (),
             settings: EvalSettings | None = None, synth_factory: Callable[[], Synth] | None = None,
             progress: Progress | None = None) -> Evaluation:
    """Score runs and the reference methods on the store's test split and on out-of-domain sets.

    Args:
        runs: Trained runs (:func:`patchflow.runtime.load_run`) learned on ``store``'s parameters.
        store: The dataset store (:func:`patchflow.data.open_store`) holding the test split.
        ood: ``(name, store)`` pairs of out-of-domain audio sets, scored on audio only.
        settings: Options.
        synth_factory: Creates a synth for rendering (default: the store's synth).
        progress: Receives the progress of rendering and searching (default: quiet).

    Raises:
        EvaluationError: A run does not match the store.
    """
    settings = settings or EvalSettings()
    _check_compatible(runs, store)
    table = store.parameters
    spec = store.features
    synth: str | Callable[[], Synth] = synth_factory or store.synth_id
    progress = or_quiet(progress)

    test_rows = _cap(store.split_indices("test"), settings.max_items)
    if len(test_rows) == 0:
        raise EvaluationError(f"{store.path}: the test split is empty")
    domains = [_domain(store, test_rows, "test", spec, with_params=True)]
    for name, other in ood:
        rows = _cap(np.flatnonzero(np.asarray(other.ok)), settings.max_ood_items)
        domains.append(_domain(other, rows, name, spec, with_params=False))

    train_rows = store.split_indices("train")
    train_params = store.read_rows("params", train_rows, np.float64)
    train_mel = store.normalise_mel(store.read_rows("mel", train_rows, np.float32))
    retrieval = MelRetrieval(train_mel, train_params, rows=train_rows)
    del train_mel

    rows: list[RowResult] = [RowResult(MEAN_ROW, "reference"), RowResult(RETRIEVAL_ROW, "reference")]
    for domain in domains:
        rows[0].params[domain.name] = np.repeat(train_params.mean(axis=0, keepdims=True), len(domain.rows), axis=0)
        rows[1].params[domain.name] = retrieval.predict_params(store.normalise_mel(domain.log_mel))
    searched = RowResult(RETRIEVAL_REFINEMENT_ROW, "reference")
    if settings.refine_budget > 0:
        rows.append(searched)

    generator = torch.Generator().manual_seed(settings.seed)
    searched_runs: list[RowResult] = []
    own: dict[str, dict[str, np.ndarray]] = {}  # each run's own candidates (N, K, P), before the neighbours
    for run in runs:
        row = RowResult(run.name, "model")
        own[run.name] = {}
        for domain in domains:
            mel = normalised_mel(run, domain.log_mel)
            row.params[domain.name] = predict_params(run.model, mel)
            if settings.refine_budget > 0:
                latent = latent_samples(run.model, mel, settings.latent_samples, settings.latent_sigma, generator)
                drawn = model_samples(run.model, mel, settings.latent_samples if settings.model_samples is None
                                      else settings.model_samples, generator)
                own[run.name][domain.name] = np.concatenate([row.params[domain.name][:, None, :], latent, drawn],
                                                            axis=1)
        rows.append(row)
        if settings.refine_budget > 0:
            searched_runs.append(row)

    counts: dict[str, int] = {}  # rendered candidates per item of each search row
    nearest: dict[str, np.ndarray] = {}  # the nearest training presets' parameters (N, K, P)
    stage_inputs: list[tuple[RowResult, dict[str, np.ndarray]]] = []
    if settings.refine_budget > 0:
        model_counts = {row.name: next(iter(own[row.name].values())).shape[1] + settings.neighbours
                        for row in searched_runs}
        reference = settings.reference_candidates or max([settings.neighbours, *model_counts.values()])
        for domain in domains:
            positions, _ = retrieval.search(store.normalise_mel(domain.log_mel),
                                            k=max(reference, settings.neighbours))
            nearest[domain.name] = train_params[positions]
        stage_inputs = [(row, {name: np.concatenate([own[row.name][name], found[:, :settings.neighbours]], axis=1)
                               for name, found in nearest.items()}) for row in searched_runs]
        counts = {RETRIEVAL_REFINEMENT_ROW: reference,
                  **{f"{name} + retrieval": k for name, k in model_counts.items()}}

    render = store.render_settings
    with SynthPool(synth, settings.workers) as pool:
        if settings.refine_budget > 0:
            starts = {name: found[:, :counts[RETRIEVAL_REFINEMENT_ROW]] for name, found in nearest.items()}
            _, searched.params = _search("retrieval", starts, domains, table, store.base_preset, pool, render,
                                         spec, settings, progress)
        for row, candidates in stage_inputs:
            ranked = RowResult(f"{row.name} + retrieval", "stage")
            refined = RowResult(f"{row.name} + refinement", "stage")
            ranked.params, refined.params = _search(row.name, candidates, domains, table, store.base_preset, pool,
                                                    render, spec, settings, progress)
            rows[rows.index(row) + 1:rows.index(row) + 1] = [ranked, refined]
        for domain in domains:
            _score_rows(rows, domain, table, store.base_preset, pool, render, spec, settings.examples, progress)

    info = {"store": str(store.path), "synth": store.synth_id, "parameters": table.names,
            "render_settings": store.render_settings.__dict__, "test_items": int(len(test_rows)),
            "train_items": int(len(train_rows)), "ood": {d.name: int(len(d.rows)) for d in domains[1:]},
            "settings": settings.__dict__, "candidates": counts, "spectrogram": spec.to_json(),
            "metrics": {"sc": "||S - S_hat||_F / ||S||_F on linear-magnitude mel spectrograms",
                        "spec_mse": f"mean((ln(S + {D.LOG_EPS}) - ln(S_hat + {D.LOG_EPS}))^2) on the same",
                        **A.DESCRIPTIONS,
                        "param_mse": "mean squared error of parameters normalised to [0, 1]",
                        "accuracy": "share of categorical parameters whose class is right; higher is better"},
            "higher_is_better": sorted(A.HIGHER_IS_BETTER),
            "confidence_interval": {"level": M.CONFIDENCE, "resamples": M.BOOTSTRAP_RESAMPLES,
                                    "seed": M.BOOTSTRAP_SEED, "method": "percentile bootstrap of the mean"}}
    return Evaluation(rows, domains, spec, info)


#: Items scored together: each chunk's target features are computed once and compared with every row's renders.
SCORE_CHUNK = 32

#: The audio metrics of every row and domain, in report order.
AUDIO_KEYS = ("sc", "spec_mse", *A.AUDIO_METRICS)


def _score_rows(rows: Sequence[RowResult], domain: Domain, table: ParameterTable, base: Preset, pool: SynthPool,
                render: RenderSettings, spec: FeatureSettings, examples: int, progress: Progress) -> None:
    """Render every row's parameters for one domain and score them: audio metrics chunk by chunk of items (the
    targets' features computed once per chunk), parameter metrics in domain."""
    n = len(domain.rows)
    parts: dict[str, dict[str, list[np.ndarray]]] = {row.name: {k: [] for k in AUDIO_KEYS} for row in rows}
    shown: dict[str, list[np.ndarray]] = {row.name: [] for row in rows}
    with progress.task(f"rendering and scoring ({domain.name})", n * len(rows), "renders") as task:
        for start in range(0, n, SCORE_CHUNK):
            stop = min(n, start + SCORE_CHUNK)
            target = A.features(domain.audio[start:stop], spec.sample_rate)
            for row in rows:
                audio = render_normalised(pool, render, base, table, row.params[domain.name][start:stop])
                estimate = magnitude_mel(audio, spec)
                scores = {"sc": D.spectral_convergence(domain.spectrogram[start:stop], estimate),
                          "spec_mse": D.spectrogram_mse(domain.spectrogram[start:stop], estimate),
                          **A.compare(target, A.features(audio, spec.sample_rate))}
                for key in AUDIO_KEYS:
                    parts[row.name][key].append(scores[key])
                shown[row.name].append(estimate[:max(0, examples - start)])
                task.advance(stop - start, info=row.name)
    for row in rows:
        scores = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts[row.name].items()}
        params = row.params[domain.name]
        if domain.params is not None:
            scores["param_mse"] = M.parameter_mse(domain.params, params) if n else np.zeros(0)
            accuracy = M.categorical_accuracy(domain.params, params, table) if n else None
            if accuracy is not None:
                scores["accuracy"] = accuracy
        row.scores[domain.name] = scores
        row.spectrograms[domain.name] = np.concatenate(shown[row.name]) if shown[row.name] else \
            np.zeros((0,) + domain.spectrogram.shape[1:], dtype=np.float32)


def _search(name: str, candidates: dict[str, np.ndarray], domains: Sequence[Domain], table: ParameterTable,
            base: Preset, pool: SynthPool, render: RenderSettings, spec: FeatureSettings, settings: EvalSettings,
            progress: Progress) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Rank each item's candidates ``(N, K, P)`` by rendering them, then refine the best within the budget.

    Returns:
        The best ranked candidate and the best refined point per domain, ``(N, P)`` each.
    """
    ranked: dict[str, np.ndarray] = {}
    refined: dict[str, np.ndarray] = {}
    for domain in domains:
        best_ranked, best_refined = [], []
        with progress.task(f"searching {name} ({domain.name})", len(domain.rows), "items") as task:
            for i in range(len(domain.rows)):
                objective = AudioObjective(domain.audio[i], pool, render, base, table, spec,
                                           metric=settings.search_metric)
                starts = objective.rank(candidates[domain.name][i], "candidate")
                best_ranked.append(starts[0].params)
                best_refined.append(refine(objective, starts, settings.refine_budget, seed=settings.seed)[0].params)
                task.advance(1)
        ranked[domain.name] = np.array(best_ranked)
        refined[domain.name] = np.array(best_refined)
    return ranked, refined
