"""The fast scoring path of the search (rows rendered from native values on the render threads, mels and distances
there) gives the numbers of the plain path: presets rendered by the pool, then magnitude mels and distances."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from patchflow.data.features import magnitude_mel
from patchflow.data.render import SynthPool
from patchflow.errors import RenderError
from patchflow.runtime import search
from patchflow.runtime.distances import (DB_PER_SC, level_matched, mel_db_distance, spectral_convergence,
                                        spectrogram_mse)
from patchflow.runtime.rendering import render_normalised
from patchflow.runtime.search import AudioObjective, one_torch_thread, refine


def plain_distances(objective: AudioObjective, pool: SynthPool, params: np.ndarray) -> np.ndarray:
    """What the search computed before: presets over the base, rendered by the pool, then the distances."""
    audio = render_normalised(pool, objective.settings, objective.base, objective.table, params)
    spec = magnitude_mel(audio, objective.features)
    target = np.broadcast_to(magnitude_mel(objective.target_audio, objective.features), spec.shape)
    if objective.match_level:
        spec = level_matched(target, spec)
    if objective.metric == "sc+db":
        return spectral_convergence(target, spec) + mel_db_distance(target, spec) / DB_PER_SC
    return spectrogram_mse(target, spec) if objective.metric == "log_mse" else spectral_convergence(target, spec)


@pytest.mark.parametrize("metric, match_level, workers, rows", [("sc", True, 2, 21), ("log_mse", True, 1, 21),
                                                                ("sc", False, 3, 21), ("sc", True, 2, 3),
                                                                ("log_mse", True, 2, 1), ("sc+db", True, 2, 21)])
def test_the_fast_path_gives_the_same_distances(small_dexed_store, metric: str, match_level: bool, workers: int,
                                                rows: int) -> None:
    store = small_dexed_store
    params = np.random.default_rng(0).random((rows, len(store.parameters)))
    target = store.audio(int(store.split_indices("test")[0])) * 0.3
    with SynthPool("dexed", workers) as pool:
        objective = AudioObjective(target, pool, store.render_settings, store.base_preset, store.parameters,
                                   store.features, match_level=match_level, metric=metric)
        fast = objective(params)
        expected = plain_distances(objective, pool, params)
    assert np.array_equal(fast, expected)
    assert objective.renders == len(np.unique(store.parameters.to_native(params), axis=0))


def test_a_search_is_the_same_search(small_dexed_store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same seed, same starts, a budget that stops by count: the refined candidates are those of the plain path."""
    store = small_dexed_store
    target = store.audio(int(store.split_indices("test")[1]))
    starts = np.asarray(store.array("params")[:4], dtype=np.float64)

    class Counted(AudioObjective):
        def __call__(self, params):
            scores = super().__call__(params)
            self.calls = getattr(self, "calls", 0) + 1
            return scores

    results = []
    for fast in (True, False):
        with SynthPool("dexed", 2) as pool:
            objective = Counted(target, pool, store.render_settings, store.base_preset, store.parameters,
                                store.features, match_level=True)
            if not fast:  # the plain path: presets through the pool, distances of the audio
                objective.score_native = lambda native, o=objective: o.distances_of_audio(
                    o.render(o.table.to_normalised(native)))
            ranked = objective.rank(starts, "start")
            clock = iter(np.arange(0, 1000, 0.001))  # the same number of steps for both
            monkeypatch.setattr(search, "time", SimpleNamespace(monotonic=lambda clock=clock: float(next(clock))))
            found = refine(objective, ranked, budget_seconds=0.2, top=2, seed=3)
            monkeypatch.undo()
        results.append([(c.origin, c.distance, tuple(c.params)) for c in found])
    assert results[0] == results[1]


def test_render_errors_reach_the_caller(small_dexed_store) -> None:
    store = small_dexed_store

    class Refusing:
        id = "refusing"

        def __init__(self):
            from patchflow.plugins import get_synth

            self.inner = get_synth("dexed")
            self.parameters = self.inner.parameters

        def render_vectors(self, native, settings):
            yield RenderError("no such sound")

        def close(self):
            self.inner.close()

    with SynthPool(Refusing, 1) as pool:
        objective = AudioObjective(store.audio(0), pool, store.render_settings, store.base_preset, store.parameters,
                                   store.features)
        with pytest.raises(RenderError, match="no such sound"):
            objective(np.full((2, len(store.parameters)), 0.5))


def test_one_torch_thread_is_restored() -> None:
    before = torch.get_num_threads()
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
