"""Rendering in threads, log-mel retrieval and synth-in-the-loop refinement on real Dexed renders."""

from __future__ import annotations

import numpy as np
import pytest

import patchflow
from patchflow.data.features import FeatureSettings
from patchflow.data.render import SynthPool
from patchflow.runtime.rendering import presets_from_normalised
from patchflow.runtime.retrieval import MelRetrieval
from patchflow.runtime.search import AudioObjective, refine

SHORT = patchflow.RenderSettings(note=60, velocity=100, note_seconds=0.7, total_seconds=1.0)
LEARNED = [f"op{i}_output_level" for i in range(1, 7)] + [f"op{i}_frequency_coarse" for i in range(1, 4)] + \
          ["feedback", "algorithm"] + [f"op{i}_env_rate1" for i in range(1, 6)]


@pytest.fixture(scope="module")
def bank(dx7_dir):
    result = patchflow.parse_preset_file(dx7_dir / "Ajay" / "dx7ii-bank-A.syx")
    assert len(result.presets) == 32
    return result.presets


@pytest.fixture(scope="module")
def table():
    return patchflow.get_synth("dexed").parameters.subset(LEARNED)


def test_threads_render_what_one_synth_renders(bank):
    synth = patchflow.get_synth("dexed")
    serial = np.stack([synth.render(p, SHORT) for p in bank[:6]])
    with SynthPool(lambda: patchflow.get_synth("dexed"), workers=2) as pool:
        threaded = pool.render(bank[:6], SHORT)
    assert threaded.shape == (6, SHORT.num_samples)
    np.testing.assert_array_equal(threaded, serial)
    assert np.all(np.abs(threaded).max(axis=1) > 1e-3)


def test_presets_from_normalised_round_trip_native_values(bank, table):
    preset = bank[4]
    v = table.to_normalised(preset.vector(table))
    rebuilt = presets_from_normalised(preset, table, v[None])[0]
    assert rebuilt.values == {**preset.values, **{n: float(x) for n, x in zip(table.names, preset.vector(table))}}


def test_retrieval_returns_the_nearest_reference():
    rng = np.random.default_rng(1)
    keys = rng.normal(size=(50, 4, 6)).astype(np.float32)
    params = rng.uniform(size=(50, 3))
    index = MelRetrieval(keys, params, rows=np.arange(100, 150))
    queries = keys[[7, 31]] + 0.01 * rng.normal(size=(2, 4, 6)).astype(np.float32)
    positions, distances = index.search(queries, k=3)
    assert positions[:, 0].tolist() == [7, 31]
    assert np.all(np.diff(distances, axis=1) >= 0)
    brute = ((keys.reshape(50, -1)[None] - queries.reshape(2, 1, -1)) ** 2).sum(-1)
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :3], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(index.predict_params(queries), params[[7, 31]])
    with pytest.raises(ValueError):
        index.search(np.zeros((1, 5)))


def test_refinement_moves_towards_a_real_preset(bank, table):
    target_preset = bank[3]
    with SynthPool("dexed", workers=2) as pool:
        target = pool.render([target_preset], SHORT)[0]
        objective = AudioObjective(target, pool, SHORT, target_preset, table, FeatureSettings())
        truth = table.to_normalised(target_preset.vector(table))
        assert objective(truth[None])[0] == 0.0  # re-rendering the true parameters is exact
        rng = np.random.default_rng(0)
        starts = objective.rank(np.clip(truth + rng.normal(0, 0.3, size=(8, len(truth))), 0, 1), "random")
        assert [c.distance for c in starts] == sorted(c.distance for c in starts)
        renders_before = objective.renders
        found = refine(objective, starts, budget_seconds=1.0, top=1, seed=0)
    assert objective.renders > renders_before
    assert found[0].origin == "refined"
    assert found[0].distance < starts[0].distance
    assert np.all((found[0].params >= 0) & (found[0].params <= 1))


def test_cma_search_and_unknown_methods(bank, table):
    target_preset = bank[7]
    with SynthPool("dexed", workers=2) as pool:
        target = pool.render([target_preset], SHORT)[0]
        objective = AudioObjective(target, pool, SHORT, target_preset, table, FeatureSettings(), metric="log_mse")
        truth = table.to_normalised(target_preset.vector(table))
        starts = objective.rank(np.clip(truth[None] + 0.2, 0, 1), "shifted")
        found = refine(objective, starts, budget_seconds=0.5, top=1, method="cma", seed=1)
        assert found[0].distance <= starts[0].distance and objective.renders > 1
        with pytest.raises(ValueError, match="unknown search method"):
            refine(objective, starts, 0.1, method="annealing")
    with pytest.raises(ValueError, match="unknown search metric"):
        AudioObjective(target, pool, SHORT, target_preset, table, FeatureSettings(), metric="l1")
