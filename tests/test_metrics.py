"""Metric definitions checked against values computed by hand, and the summaries with their confidence
intervals (the audio metrics of the literature: tests/test_audio_metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patchflow import ParameterKind, ParameterSpec, ParameterTable
from patchflow.evaluation import metrics as M
from patchflow.runtime import distances as D


def test_spectral_convergence_by_hand():
    target = np.array([[3.0, 0.0], [0.0, 4.0]])  # ||S||_F = 5
    estimate = np.array([[0.0, 0.0], [0.0, 4.0]])  # ||S - S_hat||_F = 3
    assert D.spectral_convergence(target, estimate) == pytest.approx([0.6])
    batch_t = np.stack([target, target])
    batch_e = np.stack([estimate, target])
    assert D.spectral_convergence(batch_t, batch_e) == pytest.approx([0.6, 0.0])


def test_spectral_convergence_of_silence():
    zeros = np.zeros((2, 3))
    assert D.spectral_convergence(zeros, zeros)[0] == 0.0
    assert math.isinf(D.spectral_convergence(zeros, np.ones((2, 3)))[0])


def test_spectrogram_mse_is_on_natural_log_magnitudes():
    target = np.array([[1.0, math.e]])
    estimate = np.array([[math.e, math.e]])
    # ln differences: -1 and 0 -> mean of squares 0.5
    assert D.spectrogram_mse(target, estimate, eps=0.0) == pytest.approx([0.5])
    # the default floor: ln(1 + 1e-3) - ln(e + 1e-3)
    expected = (math.log(1 + D.LOG_EPS) - math.log(math.e + D.LOG_EPS)) ** 2 / 2
    assert D.spectrogram_mse(target, estimate) == pytest.approx([expected])


def test_level_matching_removes_a_gain_only():
    rng = np.random.default_rng(0)
    target = rng.uniform(size=(2, 4, 5))
    louder = target * np.array([2.0, 0.25])[:, None, None]
    assert D.spectral_convergence(target, D.level_matched(target, louder)) == pytest.approx([0, 0], abs=1e-12)
    other = rng.uniform(size=(2, 4, 5))
    assert np.all(D.spectral_convergence(target, D.level_matched(target, other)) > 0.1)


def test_parameter_mse_by_hand():
    assert M.parameter_mse([0.0, 1.0], [0.5, 0.5]) == pytest.approx([0.25])
    assert M.parameter_mse([[0, 0], [1, 1]], [[0, 0], [0, 1]]) == pytest.approx([0.0, 0.5])


def test_categorical_accuracy_maps_through_the_specs():
    table = ParameterTable([
        ParameterSpec(name="level", low=0, high=99, step=1, default=0),
        ParameterSpec(name="wave", kind=ParameterKind.CATEGORICAL, choices=("a", "b", "c")),
        ParameterSpec(name="mode", kind=ParameterKind.CATEGORICAL, choices=("x", "y", "z")),
    ])
    target = [0.3, 0.0, 1.0]
    estimate = [0.9, 0.2, 0.6]  # wave 0.2*2 -> class 0 (right); mode 0.6*2 -> class 1, not 2 (wrong)
    assert M.categorical_accuracy(target, estimate, table) == pytest.approx([0.5])
    assert M.categorical_accuracy([0.1], [0.2], ParameterTable([ParameterSpec(name="c")])) is None


def test_summarise_ignores_and_counts_non_finite_values():
    stats = M.summarise([1.0, 2.0, 3.0, float("inf")])
    assert stats["mean"] == pytest.approx(2.0)
    assert stats["std"] == pytest.approx(math.sqrt(2 / 3))
    assert stats["median"] == pytest.approx(2.0)
    assert (stats["n"], stats["n_nonfinite"]) == (3, 1)
    # the bootstrap interval of the mean, over the finite values only, seeded
    assert stats["ci"] == 0.95 and 1.0 <= stats["ci_low"] <= 2.0 <= stats["ci_high"] <= 3.0
    assert M.summarise([1.0, 2.0, 3.0]) == {**stats, "n_nonfinite": 0}
    constant = M.summarise([0.5] * 10)
    assert constant["ci_low"] == constant["ci_high"] == pytest.approx(0.5)
    empty = M.summarise([float("nan")])
    assert empty["n"] == 0 and math.isnan(empty["ci_low"]) and math.isnan(empty["ci_high"])


def test_paired_comparison_by_hand():
    a = np.arange(1.0, 9.0)
    b = a + np.arange(1, 9) * 0.1  # b is worse on every item, all differences distinct
    result = M.paired_comparison(a, b)
    assert result["a_better"] == 1.0 and result["b_better"] == 0.0 and result["ties"] == 0.0
    # exact two-sided Wilcoxon signed-rank test, n = 8, every sign the same: p = 2 / 2**8
    assert result["p_value"] == pytest.approx(2 / 2 ** 8)
    same = M.paired_comparison(a, a)
    assert same["ties"] == 1.0 and math.isnan(same["p_value"])
    with pytest.raises(ValueError):
        M.paired_comparison(a, a[:3])


def test_mel_db_distance_agrees_with_librosa():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    target, estimate = rng.random((3, 16, 20)) ** 4, rng.random((3, 16, 20)) ** 4
    estimate[1] = 0.0  # silence: its dB floor is its own peak's, 80 dB down
    expected = [np.mean(np.abs(librosa.amplitude_to_db(t, ref=np.max, amin=1e-12, top_db=80.0)
                               - librosa.amplitude_to_db(e, ref=np.max, amin=1e-12, top_db=80.0)))
                for t, e in zip(target, estimate)]
    assert np.allclose(D.mel_db_distance(target, estimate), expected)
    assert np.allclose(D.mel_db_distance(target, 7.0 * target), 0.0)  # the level does not count
    combined = D.sc_db(target, estimate)
    assert np.allclose(combined, D.spectral_convergence(target, estimate) + np.array(expected) / D.DB_PER_SC)
