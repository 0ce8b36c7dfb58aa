"""The audio metrics of the evaluation, each checked against an independent computation with librosa, scipy or
numpy, identity checks (a clip against itself), the bootstrap confidence interval, and the metrics in match.json."""

from __future__ import annotations

import json
import warnings

import librosa
import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import cdist

from patchflow.evaluation import audio_metrics as A
from patchflow.evaluation import metrics as M

RATE = 22050


def _note(f0: float, decay: float, rng: np.random.Generator, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    tone = 0.5 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(2 * np.pi * 3 * f0 * t + 0.3)
    return (tone * np.exp(-decay * t) * (t < 0.8 * seconds) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two batches of two notes that differ in pitch, decay and noise."""
    rng = np.random.default_rng(0)
    target = np.stack([_note(220, 1.0, rng), _note(330, 3.0, rng)])
    estimate = np.stack([_note(233, 2.0, rng), _note(330, 0.5, rng)])
    return target, estimate


def _ms(ms: float) -> int:
    return int(ms * RATE / 1000)


def test_paper_sc_and_log_ratio_match_librosa_power_mels(pair):
    target, estimate = pair
    p = A.PAPER_MEL

    def mel(audio):
        return librosa.feature.melspectrogram(y=audio, sr=RATE, n_fft=p["n_fft"], hop_length=p["hop"],
                                              n_mels=p["n_mels"], fmin=p["fmin"], fmax=p["fmax"])[..., :p["frames"]]

    s, s_hat = mel(target).astype(np.float64), mel(estimate).astype(np.float64)
    assert s.shape[1:] == (64, min(80, 1 + target.shape[1] // p["hop"]))
    sc = np.linalg.norm((s - s_hat).reshape(2, -1), axis=1) / np.linalg.norm(s.reshape(2, -1), axis=1)
    np.testing.assert_allclose(A.spectral_convergence_paper(target, estimate, RATE), sc, rtol=1e-4)
    ln, ln_hat = np.log(s + 1e-9), np.log(s_hat + 1e-9)
    ratio = np.abs(ln - ln_hat).sum(axis=(1, 2)) / np.abs(ln).sum(axis=(1, 2))
    np.testing.assert_allclose(A.log_ratio_paper(target, estimate, RATE), ratio, rtol=1e-4)


def test_paper_sc_differs_from_the_magnitude_sc(pair):
    """Power (squared magnitudes) weighs loud bins more than the magnitude mel of the main SC."""
    from patchflow.data.features import FeatureSettings, magnitude_mel
    from patchflow.runtime.distances import spectral_convergence

    target, estimate = pair
    settings = FeatureSettings()
    magnitude = spectral_convergence(magnitude_mel(target, settings), magnitude_mel(estimate, settings))
    assert not np.allclose(A.spectral_convergence_paper(target, estimate, RATE), magnitude, rtol=0.05)


def test_mss_matches_librosa(pair):
    target, estimate = pair
    expected = np.zeros(2)
    for window, hop, bands in A.MSS_SCALES:
        for i in range(2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # librosa warns about the empty filters of the 10 ms scale
                spectra = [librosa.power_to_db(librosa.feature.melspectrogram(
                    y=audio[i], sr=RATE, n_mels=bands, n_fft=_ms(window), hop_length=_ms(hop), window="hann"),
                    ref=np.max) for audio in (target, estimate)]
            expected[i] += np.mean(np.abs(spectra[0] - spectra[1])) / len(A.MSS_SCALES)
    np.testing.assert_allclose(A.mss(target, estimate, RATE), expected, rtol=1e-4)


def test_mss_ignores_the_level(pair):
    target, estimate = pair
    np.testing.assert_allclose(A.mss(target, 0.1 * target, RATE), 0.0, atol=1e-3)
    np.testing.assert_allclose(A.mss(target, 3 * estimate, RATE), A.mss(target, estimate, RATE), rtol=1e-3)


def test_sot_is_the_mean_of_scipy_wasserstein_distances_per_frame(pair):
    target, estimate = pair
    window, hop = _ms(A.SOT_FRAMES[0]), _ms(A.SOT_FRAMES[1])
    for i in range(2):
        spectra = [np.abs(librosa.stft(audio[i], n_fft=window, hop_length=hop, window="hann")).T
                   for audio in (target, estimate)]
        positions = np.arange(spectra[0].shape[1]) / spectra[0].shape[1]
        frames = [scipy.stats.wasserstein_distance(positions, positions, a, b) for a, b in zip(*spectra)]
        assert A.sot(target[i], estimate[i], RATE)[0] == pytest.approx(np.mean(frames), rel=1e-4)


def test_sot_moves_with_pitch():
    t = np.arange(RATE) / RATE
    tones = {f: np.sin(2 * np.pi * f * t).astype(np.float32) for f in (440, 466, 880)}
    near, far = A.sot(tones[440], tones[466], RATE)[0], A.sot(tones[440], tones[880], RATE)[0]
    # the mass moves by (f - 440) / (rate / 2): a pitch distance, unlike a bin-wise distance
    assert near == pytest.approx(26 / 11025, rel=0.1) and far == pytest.approx(440 / 11025, rel=0.1)


def test_envelope_cosine_matches_librosa_rms_and_numpy(pair):
    target, estimate = pair
    frame, hop = _ms(A.RMS_FRAMES[0]), _ms(A.RMS_FRAMES[1])
    r = librosa.feature.rms(y=target, frame_length=frame, hop_length=hop)[:, 0].astype(np.float64)
    r_hat = librosa.feature.rms(y=estimate, frame_length=frame, hop_length=hop)[:, 0].astype(np.float64)
    np.testing.assert_allclose(A.rms_envelope(target, RATE), r, rtol=1e-4)
    expected = np.sum(r * r_hat, axis=1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(r_hat, axis=1))
    np.testing.assert_allclose(A.envelope_cosine(target, estimate, RATE), expected, rtol=1e-4)


def test_envelope_cosine_of_silence():
    silence, note = np.zeros(RATE, dtype=np.float32), _note(220, 1.0, np.random.default_rng(1), 1.0)
    assert A.envelope_cosine(silence, silence, RATE)[0] == 1.0
    assert A.envelope_cosine(note, silence, RATE)[0] == 0.0


def test_wmfcc_matches_librosa_mfcc_and_dtw(pair):
    target, estimate = pair
    window, hop, bands, coefficients = A.MFCC_SETTINGS
    for i in range(2):
        mfccs = [librosa.feature.mfcc(y=audio[i], sr=RATE, n_mfcc=coefficients, n_fft=_ms(window),
                                      hop_length=_ms(hop), n_mels=bands) for audio in (target, estimate)]
        np.testing.assert_allclose(A.mfcc(target[i], RATE)[0], mfccs[0], atol=2e-3 * np.abs(mfccs[0]).max())
        cost = cdist(mfccs[0].T, mfccs[1].T, "cityblock") / coefficients
        # the symmetric2 step pattern: diagonal steps count the local cost twice
        accumulated = librosa.sequence.dtw(C=cost, step_sizes_sigma=np.array([[1, 1], [0, 1], [1, 0]]),
                                           weights_mul=np.array([2.0, 1.0, 1.0]), weights_add=np.zeros(3),
                                           backtrack=False)
        expected = accumulated[-1, -1] / sum(cost.shape)
        assert A.wmfcc(target[i], estimate[i], RATE)[0] == pytest.approx(expected, rel=1e-4)


def test_dtw_cost_by_hand_and_against_librosa():
    # one path of two diagonal steps: C[0,0] + 2 C[1,1] = 1 + 2; normalised by N + M = 4
    assert A.dtw_cost(np.array([[1.0, 5.0], [5.0, 1.0]]))[0] == pytest.approx(3 / 4)
    rng = np.random.default_rng(2)
    costs = rng.uniform(size=(3, 7, 5))
    expected = [librosa.sequence.dtw(C=c, step_sizes_sigma=np.array([[1, 1], [0, 1], [1, 0]]),
                                     weights_mul=np.array([2.0, 1.0, 1.0]), weights_add=np.zeros(3),
                                     backtrack=False)[-1, -1] / 12 for c in costs]
    np.testing.assert_allclose(A.dtw_cost(costs), expected, rtol=1e-12)


def test_wmfcc_forgives_a_time_shift_more_than_a_frame_wise_distance():
    rng = np.random.default_rng(3)
    note = _note(220, 2.0, rng)
    late = np.concatenate([np.zeros(_ms(30), dtype=np.float32), note[:-_ms(30)]])
    coefficients = A.mfcc(np.stack([note, late]), RATE)
    frame_wise = np.mean(np.abs(coefficients[0] - coefficients[1]))
    assert A.wmfcc(note, late, RATE)[0] < 0.5 * frame_wise


@pytest.mark.parametrize("key", A.AUDIO_METRICS)
def test_a_clip_against_itself(pair, key):
    target, _ = pair
    value = A.FUNCTIONS[key](target, target, RATE)
    np.testing.assert_allclose(value, 1.0 if key in A.HIGHER_IS_BETTER else 0.0, atol=1e-9)


def test_audio_scores_gathers_every_metric_in_chunks(pair):
    target, estimate = pair
    scores = A.audio_scores(target, estimate, RATE, chunk=1)
    assert list(scores) == list(A.AUDIO_METRICS)
    for key in A.AUDIO_METRICS:
        np.testing.assert_allclose(scores[key], A.FUNCTIONS[key](target, estimate, RATE), rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        A.audio_scores(target, estimate[:, :-1], RATE)
    with pytest.raises(ValueError, match="unknown"):
        A.audio_scores(target, estimate, RATE, metrics=("nope",))


def test_bootstrap_ci_of_a_known_distribution():
    rng = np.random.default_rng(4)
    values = rng.normal(3.0, 2.0, size=2000)
    low, high = M.bootstrap_ci(values, resamples=2000, seed=5)
    # the mean's standard error is sigma / sqrt(n); the normal 95% interval is mean +- 1.96 of it
    half = 1.959964 * values.std() / np.sqrt(values.size)
    assert low == pytest.approx(values.mean() - half, abs=0.2 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.2 * half)
    # the same percentile bootstrap written out with numpy
    means = values[np.random.default_rng(5).integers(0, values.size, size=(2000, values.size))].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert M.bootstrap_ci(values, seed=5) == M.bootstrap_ci(values, seed=5)  # seeded


def test_bootstrap_ci_edge_cases():
    assert M.bootstrap_ci([2.0]) == (2.0, 2.0)
    assert all(np.isnan(M.bootstrap_ci([float("nan")])))
    stats = M.summarise([1.0, 2.0, 3.0, float("inf")])
    assert stats["ci_low"] <= stats["mean"] <= stats["ci_high"] and stats["ci"] == 0.95
    with pytest.raises(ValueError):
        M.bootstrap_ci([1.0, 2.0], confidence=1.5)


def test_match_json_carries_the_audio_metrics(tiny_run, small_dexed_store, tmp_path):
    from patchflow.apps.matching import match_sound, write_match
    from patchflow.runtime import load_run

    store = small_dexed_store
    run = load_run(tiny_run("mlp"))
    target = store.audio(int(store.split_indices("test")[0])) * 0.25  # a level the search does not know
    result = match_sound(run, target, base_preset=store.base_preset, store=store, budget_seconds=0,
                         latent_count=0, neighbours=2, workers=1, metric="sc")
    summary = write_match(result, run, store.base_preset, tmp_path)["summary"]
    metrics = json.loads((tmp_path / "match.json").read_text())["metrics"]
    assert metrics == pytest.approx(summary["metrics"])
    assert sorted(metrics) == sorted(["sc", "spec_mse", *A.AUDIO_METRICS])
    assert metrics["sc"] == pytest.approx(summary["sc"]) == pytest.approx(result.best.distance)
    assert summary["level_gain"] > 0 and 0 <= metrics["env_cos"] <= 1 and metrics["mss"] >= 0
