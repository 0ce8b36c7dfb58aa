"""Synth-in-the-loop refinement: score candidate presets by rendering them, then search around the best.

The model proposes; the synth decides. Candidates (the model's prediction, samples around it in the latent
space, nearest training presets) are rendered through the real synth, ranked by spectral convergence to the
target, and the best ones are improved by a derivative-free local search inside ``[0, 1]^P`` (batched coordinate
perturbation by whole grid steps, or CMA-ES from the ``cma`` package) until a time budget is spent. Parameter
vectors are snapped to the synth's native grid before rendering, and renders are cached by their native values,
since many nearby vectors play the same sound.

Scoring is the inner loop of matching, so it runs where the renders are: each render thread plays its share of a
batch from native values (:meth:`patchflow.Synth.render_vectors`, no preset objects), computes the magnitude mels
of its clips and their distances, and hands back numbers. Torch runs one intra-op thread meanwhile: the render
threads are the parallelism, and torch's own threads would only fight them for the cores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..data.features import ClipFeaturizer, FeatureSettings, magnitude_mel
from ..data.render import SynthPool
from ..errors import RenderError
from ..parameters import ParameterTable
from ..presets import Preset
from ..synth import RenderSettings, Synth
from .distances import level_matched, sc_db, spectral_convergence, spectrogram_mse
from .rendering import render_normalised

#: Distances the search can minimise.
OBJECTIVES = ("sc", "log_mse", "sc+db")


@dataclass
class Candidate:
    """A parameter vector with its audio distance to the target.

    Attributes:
        params: Normalised learned parameters ``(P,)``.
        distance: Audio distance of its rendering to the target (the objective's metric; lower is better).
        origin: Where it came from (``model``, ``latent``, ``retrieval``, ``refined``...).
    """

    params: np.ndarray
    distance: float
    origin: str


@dataclass
class AudioObjective:
    """Spectral convergence between a target and the synth's rendering of candidate parameters.

    Args:
        target_audio: The sound to match, mono, at the render settings' sample rate and length.
        pool: The synths that render the candidates.
        settings: How candidates are played (note, velocity, lengths: those of the target).
        base: Preset supplying every parameter that is not learned.
        table: Specs of the learned parameters, in column order.
        features: Feature settings whose magnitude mel the distance compares.
        match_level: Scale each rendering by its least-squares gain first (for targets of arbitrary level, such
            as recordings); leave off when the target is a rendering of the same synth.
        metric: ``sc`` (spectral convergence, the reported metric; it prefers quiet renderings to loud wrong
            ones, since silence scores 1), ``log_mse`` (mean squared log-magnitude difference, which weighs
            quiet detail and penalises silence) or ``sc+db`` (SC plus the peak-referenced dB distance over 20,
            :func:`patchflow.runtime.distances.sc_db`: loud partials and quiet detail both count).
    """

    target_audio: np.ndarray
    pool: SynthPool
    settings: RenderSettings
    base: Preset
    table: ParameterTable
    features: FeatureSettings
    match_level: bool = False
    metric: str = "sc"
    renders: int = 0
    _target: np.ndarray = field(init=False, repr=False)
    _cache: dict[bytes, float] = field(init=False, repr=False, default_factory=dict)
    _rows: tuple[np.ndarray, np.ndarray] | None = field(init=False, repr=False, default=None)
    _local: threading.local = field(init=False, repr=False, default_factory=threading.local)

    def __post_init__(self) -> None:
        if self.metric not in OBJECTIVES:
            raise ValueError(f"unknown search metric {self.metric!r}; choose from {', '.join(OBJECTIVES)}")
        self._target = magnitude_mel(self.target_audio, self.features)

    def distances_of_audio(self, audio: np.ndarray) -> np.ndarray:
        """Distance (:attr:`metric`) of each rendering ``(N, samples)`` to the target."""
        return self.distances_of_spectrograms(magnitude_mel(audio, self.features))

    def distances_of_spectrograms(self, spec: np.ndarray) -> np.ndarray:
        """Distance (:attr:`metric`) of magnitude mels ``(N, n_mels, frames)`` of renderings to the target's."""
        target = np.broadcast_to(self._target, spec.shape)
        if self.match_level:
            spec = level_matched(target, spec)
        if self.metric == "log_mse":
            return spectrogram_mse(target, spec)
        if self.metric == "sc+db":
            return sc_db(target, spec)
        return spectral_convergence(target, spec)

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """Distances ``(N,)`` of normalised parameter vectors ``(N, P)`` (rendering only unseen native values)."""
        params = np.clip(np.atleast_2d(np.asarray(params, dtype=np.float64)), 0.0, 1.0)
        native = self.table.to_native(params)
        keys = [row.tobytes() for row in native]
        unique: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in self._cache:
                unique.setdefault(key, i)
        if unique:
            rows = list(unique.values())
            scores = self.score_native(native[rows])
            self.renders += len(rows)
            for key, value in zip(unique, scores):
                self._cache[key] = float(value)
        return np.array([self._cache[key] for key in keys])

    def score_native(self, native: np.ndarray) -> np.ndarray:
        """Distances ``(N,)`` of learned parameters in native units ``(N, P)``, rendered now (no cache).

        The rows are shared evenly between the pool's threads; each renders its rows over the base preset, takes
        their magnitude mels and their distances. The same numbers as rendering the presets
        (:meth:`render`) and calling :meth:`distances_of_audio`.

        Raises:
            RenderError: A candidate could not be rendered.
        """
        full = self._full_rows(np.atleast_2d(native))
        if not len(full):
            return np.zeros(0)
        parts = np.array_split(np.arange(len(full)), min(self.pool.workers, len(full)))
        with one_torch_thread():
            futures = [self.pool.submit(self._score_rows, full[part], len(full) > 1) for part in parts]
            return np.concatenate([future.result() for future in futures])

    def _full_rows(self, native: np.ndarray) -> np.ndarray:
        """Native values of every synth parameter: the base preset's, with the learned columns replaced."""
        if self._rows is None:
            full_table = self.pool.submit(lambda synth: synth.parameters).result()
            columns = np.array([full_table.index(name) for name in self.table.names], dtype=np.int64)
            self._rows = (self.base.vector(full_table), columns)
        base, columns = self._rows
        full = np.repeat(base[None], len(native), axis=0)
        full[:, columns] = native
        return full

    def _score_rows(self, synth: Synth, rows: np.ndarray, batch: bool) -> np.ndarray:
        """On a pool thread: render ``rows`` (every parameter, native), take magnitude mels, return distances.

        ``batch``: the rows are part of a batch of several. numpy sums a batch of one in another order than a batch
        of several (the broadcast target's memory layout differs), so a part of one row is scored as two copies,
        and its last bits are those it would have in the whole batch.
        """
        samples = self.settings.num_samples
        featurizer = getattr(self._local, "featurizer", None)
        if featurizer is None:
            featurizer = self._local.featurizer = ClipFeaturizer(self.features, samples, log=False)
            self._local.clip = np.zeros(samples, dtype=np.float32)
        clip = self._local.clip
        spec = np.empty((len(rows), self.features.n_mels, self.features.frames(samples)), dtype=np.float32)
        done = 0
        for i, result in enumerate(synth.render_vectors(rows, self.settings)):
            if isinstance(result, RenderError):
                raise result
            audio = np.asarray(result, dtype=np.float32).reshape(-1)
            n = min(len(audio), samples)
            clip[:n] = audio[:n]
            clip[n:] = 0.0
            featurizer(clip, spec[i])
            done += 1
        if done != len(rows):
            raise RenderError(f"{synth.id} rendered {done} of {len(rows)} candidates")
        if batch and len(spec) == 1:
            return self.distances_of_spectrograms(np.concatenate([spec, spec]))[:1]
        return self.distances_of_spectrograms(spec)

    def rank(self, params: np.ndarray, origin: str | Sequence[str]) -> list[Candidate]:
        """Score parameter vectors and return them as candidates, best first."""
        params = np.atleast_2d(params)
        origins = [origin] * len(params) if isinstance(origin, str) else list(origin)
        scores = self(params)
        order = np.argsort(scores, kind="stable")
        return [Candidate(np.clip(params[i], 0, 1).astype(np.float64), float(scores[i]), origins[i]) for i in order]

    def render(self, params: np.ndarray) -> np.ndarray:
        """Audio ``(N, samples)`` of normalised parameter vectors."""
        return render_normalised(self.pool, self.settings, self.base, self.table, np.atleast_2d(params))


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch with one intra-op thread for the block, restored after.

    Where render threads share the cores, torch's own worker threads only compete with them: on a busy 2-core
    machine they made each mel spectrogram about 50 times slower, and a single-item model inference 100 times (0.7 s
    instead of 5 ms).
    """
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: Local-search methods of :func:`refine`.
METHODS = ("coordinate", "cma")


def grid_steps(table: ParameterTable) -> np.ndarray:
    """The smallest meaningful move of each parameter in normalised units (one grid step or one class)."""
    steps = []
    for spec in table:
        if not spec.is_continuous:
            steps.append(1.0 / (spec.cardinality - 1))
        elif spec.step is not None:
            steps.append(spec.step / (spec.high - spec.low))
        else:
            steps.append(0.01)
    return np.asarray(steps, dtype=np.float64)


def _coordinate_search(objective: AudioObjective, start: Candidate, stop_at: float,
                       rng: np.random.Generator, batch: int) -> Candidate:
    """Greedy batched coordinate perturbation: propose moves of one or two parameters by 1-16 grid steps (a
    random class for categorical ones), render the batch, keep the best if it improves."""
    steps = grid_steps(objective.table)
    categorical = np.array([not spec.is_continuous for spec in objective.table])
    best = start
    size = len(steps)
    while time.monotonic() < stop_at:
        proposals = np.repeat(best.params[None], batch, axis=0)
        for row in proposals:
            for j in rng.choice(size, size=1 + int(rng.random() < 0.3), replace=False):
                if categorical[j]:
                    row[j] = rng.integers(0, round(1 / steps[j]) + 1) * steps[j]
                else:
                    row[j] += rng.choice([-1, 1]) * rng.choice([1, 2, 4, 8, 16]) * steps[j]
        proposals = np.clip(proposals, 0.0, 1.0)
        scores = objective(proposals)
        i = int(np.argmin(scores))
        if scores[i] < best.distance:
            best = Candidate(proposals[i], float(scores[i]), "refined")
    return best


def _cma_search(objective: AudioObjective, start: Candidate, stop_at: float, sigma: float, seed: int) -> Candidate:
    """CMA-ES (the ``cma`` package) in ``[0, 1]^P`` from ``start``."""
    import cma

    es = cma.CMAEvolutionStrategy(np.clip(start.params, 0.02, 0.98), sigma,
                                  {"bounds": [0.0, 1.0], "seed": seed, "verbose": -9, "tolfun": 1e-6,
                                   "tolflatfitness": 20})
    best = start
    while time.monotonic() < stop_at and not es.stop():
        xs = es.ask()
        scores = objective(np.array(xs))
        es.tell(xs, scores.tolist())
        i = int(np.argmin(scores))
        if scores[i] < best.distance:
            best = Candidate(np.clip(np.asarray(xs[i], dtype=np.float64), 0, 1), float(scores[i]), "refined")
    return best


def refine(objective: AudioObjective, starts: Sequence[Candidate], budget_seconds: float, *, top: int = 3,
           method: str = "coordinate", sigma: float = 0.05, batch: int = 16, seed: int = 0) -> list[Candidate]:
    """Improve the best ``top`` candidates by derivative-free local search until ``budget_seconds`` is spent.

    Synth parameters live on grids and the sound is piecewise constant in them, so the default ``coordinate``
    search moves one or two parameters at a time by whole grid steps; ``cma`` runs CMA-ES (step size ``sigma``)
    instead. The budget is shared evenly between the starts; a start whose search stops early hands its time on.

    Args:
        objective: Scores parameter vectors by rendering them.
        starts: Scored candidates (any order); the ``top`` best are refined.
        budget_seconds: Wall-clock time to spend (0 returns the starts, best first).
        top: Number of starting points.
        method: ``coordinate`` or ``cma``.
        sigma: Initial CMA-ES step size in normalised units.
        batch: Proposals rendered together per coordinate-search step.
        seed: Seed of the search.

    Returns:
        Every start and the best point found from each, best first.

    Raises:
        ValueError: Unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; choose from {', '.join(METHODS)}")
    ranked = sorted(starts, key=lambda c: c.distance)
    if budget_seconds <= 0 or not ranked:
        return ranked
    if method == "cma":
        import cma  # noqa: F401  (imported before the clock starts)
    found = list(ranked)
    deadline = time.monotonic() + budget_seconds
    chosen = ranked[:max(1, top)]
    rng = np.random.default_rng(seed)
    for n, start in enumerate(chosen):
        now = time.monotonic()
        if now >= deadline:
            break
        stop_at = now + (deadline - now) / (len(chosen) - n)
        if method == "cma":
            best = _cma_search(objective, start, stop_at, sigma, seed + n + 1)
        else:
            best = _coordinate_search(objective, start, stop_at, rng, batch)
        if best is not start:
            found.append(best)
    return sorted(found, key=lambda c: c.distance)
