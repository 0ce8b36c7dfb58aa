"""``evaluate`` on the small real Dexed store with tiny trained runs: a baseline and Flow_reg, the reference
rows (with retrieval + refinement), the synth-in-the-loop stage rows, every audio metric with its confidence
interval, the report files and the command line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import patchflow
from patchflow.cli import app
from patchflow.evaluation import audio_metrics as A
from patchflow.evaluation import metrics as M
from patchflow.evaluation.evaluate import (
    MEAN_ROW,
    RETRIEVAL_REFINEMENT_ROW,
    RETRIEVAL_ROW,
    EvalSettings,
    EvaluationError,
    evaluate,
)
from patchflow.data.features import magnitude_mel
from patchflow.runtime import distances as D
from patchflow.runtime.rendering import presets_from_normalised
from patchflow.evaluation.report import write_report
from patchflow.runtime import load_run

BASELINE, FLOW_REG = "mlp", "vae"
ITEMS = 4


@pytest.fixture(scope="module")
def ood_store(small_dexed_store, tmp_path_factory):
    """Two sounds no DX7 preset made: a sawtooth-like tone and noise, imported like the small store."""
    from patchflow.data.importing import import_audio

    folder = tmp_path_factory.mktemp("ood-audio")
    rate = 22050
    t = np.arange(rate * 2) / rate
    soundfile.write(folder / "saw.wav", (((t * 220) % 1.0) - 0.5).astype(np.float32), rate)
    soundfile.write(folder / "noise.wav", np.random.default_rng(0).uniform(-0.3, 0.3, rate).astype(np.float32),
                    rate)
    return import_audio(folder, small_dexed_store, folder.parent / "ood.zarr")


@pytest.fixture(scope="module")
def evaluation(tiny_run, small_dexed_store, ood_store):
    runs = [load_run(tiny_run(BASELINE)), load_run(tiny_run(FLOW_REG))]
    settings = EvalSettings(max_items=ITEMS, refine_budget=0.2, latent_samples=4, neighbours=2, examples=1,
                            workers=2)
    return evaluate(runs, small_dexed_store, [("sounds", ood_store)], settings=settings)


def test_rerendering_the_targets_parameters_reproduces_the_targets(small_dexed_store):
    """The trap of the original code: targets must be re-rendered with the store's note and velocity."""
    store = small_dexed_store
    rows = store.split_indices("test")[:3]
    params = np.asarray(store.array("params").get_orthogonal_selection((rows, slice(None))), dtype=np.float64)
    synth = patchflow.get_synth(store.synth_id)
    audio = np.stack([synth.render(p, store.render_settings)
                      for p in presets_from_normalised(store.base_preset, store.parameters, params)])
    spec = store.features
    targets = magnitude_mel(np.stack([store.audio(int(i)) for i in rows]), spec)
    np.testing.assert_allclose(D.spectral_convergence(targets, magnitude_mel(audio, spec)), 0.0, atol=1e-6)
    # and so every audio metric: distances 0, the envelope similarity 1
    for key, values in A.audio_scores(np.stack([store.audio(int(i)) for i in rows]), audio, spec.sample_rate).items():
        np.testing.assert_allclose(values, 1.0 if key in A.HIGHER_IS_BETTER else 0.0, atol=1e-6, err_msg=key)


def test_rows_and_scores(evaluation, small_dexed_store):
    names = [row.name for row in evaluation.rows]
    flow = [n for n in names if n.startswith(FLOW_REG)]
    assert names[:2] == [MEAN_ROW, RETRIEVAL_ROW]
    # with a search budget, the reference of lookup + search without a model comes next
    assert names[2] == RETRIEVAL_REFINEMENT_ROW and evaluation.rows[2].kind == "reference"
    assert BASELINE in names and flow == [FLOW_REG, f"{FLOW_REG} + retrieval", f"{FLOW_REG} + refinement"]
    audio_keys = ["sc", "spec_mse", *A.AUDIO_METRICS]
    for row in evaluation.rows:
        scores = row.scores["test"]
        assert scores["sc"].shape == (ITEMS,) and np.all(np.isfinite(scores["sc"])) and np.all(scores["sc"] >= 0)
        assert np.all(scores["spec_mse"] >= 0)
        assert np.all((scores["param_mse"] >= 0) & (scores["param_mse"] <= 1))
        assert np.all((row.params["test"] >= 0) & (row.params["test"] <= 1))
        # every row carries every audio metric, finite, distances >= 0, the envelope cosine in [0, 1]
        assert set(audio_keys) <= set(scores), row.name
        for key in A.AUDIO_METRICS:
            assert scores[key].shape == (ITEMS,) and np.all(np.isfinite(scores[key])), (row.name, key)
        assert np.all((scores["env_cos"] >= 0) & (scores["env_cos"] <= 1 + 1e-12))
        assert all(np.all(scores[k] >= 0) for k in A.AUDIO_METRICS)
        assert np.all(scores["sot"] <= 1)
    by_name = {row.name: row.scores["test"]["sc"] for row in evaluation.rows}
    # each stage keeps the best candidate so far, and the model's own prediction is among the candidates
    for run in (BASELINE, FLOW_REG):
        assert np.all(by_name[f"{run} + retrieval"] <= by_name[run] + 1e-12)
        assert np.all(by_name[f"{run} + refinement"] <= by_name[f"{run} + retrieval"] + 1e-12)
    # the nearest training preset is among the starts of retrieval + refinement
    assert np.all(by_name[RETRIEVAL_REFINEMENT_ROW] <= by_name[RETRIEVAL_ROW] + 1e-12)
    # which ranks as many nearest presets as the largest model row ranks candidates: the vae's prediction, its 4
    # latent samples and 2 neighbours (the mlp has no latent: its prediction and the neighbours)
    assert evaluation.info["candidates"] == {RETRIEVAL_REFINEMENT_ROW: 7, f"{BASELINE} + retrieval": 3,
                                             f"{FLOW_REG} + retrieval": 7}
    # out-of-domain items are scored on audio only: every audio metric, no parameter metric
    for row in evaluation.rows:
        assert sorted(row.scores["sounds"]) == sorted(audio_keys) and row.scores["sounds"]["sc"].shape == (2,)
    # the mean row predicts the training mean for every item
    store = small_dexed_store
    train = np.asarray(store.array("params").get_orthogonal_selection((store.split_indices("train"), slice(None))))
    np.testing.assert_allclose(evaluation.rows[0].params["test"], np.repeat(train.mean(0, keepdims=True), ITEMS, 0),
                               rtol=1e-5)


def test_retrieval_row_is_the_nearest_training_log_mel(evaluation, small_dexed_store):
    store = small_dexed_store
    train_rows = store.split_indices("train")
    test_row = int(store.split_indices("test")[0])
    train_mel = store.normalise_mel(np.asarray(store.mel.get_orthogonal_selection(
        (train_rows, slice(None), slice(None))), dtype=np.float64))
    query = store.normalise_mel(np.asarray(store.mel[test_row], dtype=np.float64))
    nearest = int(np.argmin(((train_mel - query[None]) ** 2).sum(axis=(1, 2))))
    expected = np.asarray(store.array("params")[int(train_rows[nearest])], dtype=np.float64)
    np.testing.assert_allclose(evaluation.rows[1].params["test"][0], expected)


def test_summary_carries_a_bootstrap_interval_of_every_mean(evaluation):
    summary = evaluation.summary()
    for row in evaluation.rows:
        for domain, scores in row.scores.items():
            for key, values in scores.items():
                stats = summary[row.name][domain][key]
                assert stats["ci_low"] <= stats["mean"] + 1e-12 and stats["mean"] <= stats["ci_high"] + 1e-12
                assert (stats["ci_low"], stats["ci_high"]) == pytest.approx(M.bootstrap_ci(values))
    assert evaluation.summary() == evaluation.summary()  # seeded
    assert set(A.AUDIO_METRICS) <= set(evaluation.info["metrics"])


def test_report_files(evaluation, tmp_path):
    files = write_report(evaluation, tmp_path / "report")
    table = files["markdown"].read_text()
    for name in (MEAN_ROW, RETRIEVAL_ROW, RETRIEVAL_REFINEMENT_ROW, BASELINE, FLOW_REG, f"{FLOW_REG} + refinement"):
        assert f"| {name} |" in table or f"| *{name}* |" in table
    assert "Wilcoxon p" in table
    data = json.loads(files["json"].read_text())
    summary = data["summary"][FLOW_REG]["test"]["sc"]
    sc = next(r for r in evaluation.rows if r.name == FLOW_REG).scores["test"]["sc"]
    assert summary["mean"] == pytest.approx(float(sc.mean())) and summary["median"] == pytest.approx(
        float(np.median(sc)))
    assert summary["ci_low"] <= summary["mean"] <= summary["ci_high"]
    assert len(data["per_item"][BASELINE]["test"]["sc"]) == ITEMS
    assert sorted(data["per_item"][BASELINE]["sounds"]) == sorted(["sc", "spec_mse", *A.AUDIO_METRICS])
    comparison = data["comparisons"]["test"][0]
    assert comparison["a"] == MEAN_ROW and 0 <= comparison["a_better"] <= 1
    assert sorted(p.name for p in files["figures"].iterdir()) == ["sounds-0.png", "test-0.png"]
    # one table per set (the out-of-domain one audio only), every metric a column, each cell mean ± CI
    assert "## Out-of-domain set `sounds`" in table and "bootstrap confidence interval" in table
    for header in ("SC", "SC median", "Spec. MSE", "SC (paper)", "Log ratio (paper)", "MSS (dB)", "wMFCC", "SOT",
                   "RMS cos. ↑"):
        assert table.count(f"| {header} |") == 2, header
    assert table.count("| MSE_n (params) |") == 1
    cell = f"{summary['mean']:.3f} ± {(summary['ci_high'] - summary['ci_low']) / 2:.3f}"
    assert f"| {FLOW_REG} | " in table and cell in table.split(f"| {FLOW_REG} | ", 1)[1].split("\n", 1)[0]


def test_a_run_of_other_parameters_is_refused(small_dexed_store, tiny_run):
    run = load_run(tiny_run(BASELINE))
    other = dataclasses.replace(run, parameters=small_dexed_store.parameters.subset(
        small_dexed_store.parameters.names[:3]))
    with pytest.raises(EvaluationError, match="other parameters"):
        evaluate([other], small_dexed_store)


def test_evaluate_command(tiny_run, small_dexed_store, tmp_path):
    out = tmp_path / "cli-report"
    result = CliRunner().invoke(app, ["evaluate", str(tiny_run(BASELINE)), "--data", str(small_dexed_store.path),
                                      "--out", str(out), "--max-items", "3", "--examples", "1"])
    assert result.exit_code == 0, result.output
    assert "Retrieval (NN log-mel)" in (out / "results.md").read_text()
    assert (out / "figures" / "test-0.png").is_file()
    missing = CliRunner().invoke(app, ["evaluate", str(tmp_path / "no-run"), "--data", str(small_dexed_store.path)])
    assert missing.exit_code == 1 and "no-run" in missing.output


def test_evaluate_command_sets_the_candidates_of_the_search(tiny_run, small_dexed_store, tmp_path):
    out = tmp_path / "candidates"
    result = CliRunner().invoke(app, ["evaluate", str(tiny_run(BASELINE)), "--data", str(small_dexed_store.path),
                                      "--out", str(out), "--max-items", "2", "--examples", "0", "--refine-budget",
                                      "0.05", "--neighbours", "3", "--latent-samples", "0", "--model-samples", "2",
                                      "--reference-candidates", "5"])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "results.json").read_text())["info"]
    settings = info["settings"]
    assert (settings["neighbours"], settings["latent_samples"], settings["model_samples"]) == (3, 0, 2)
    assert info["candidates"] == {"Retrieval + refinement": 5, f"{BASELINE} + retrieval": 4}
    assert "Candidates per item: Retrieval + refinement 5, mlp + retrieval 4." in (out / "results.md").read_text()
    bad = CliRunner().invoke(app, ["evaluate", str(tiny_run(BASELINE)), "--data", str(small_dexed_store.path),
                                   "--neighbours", "0"])
    assert bad.exit_code == 2 and "--neighbours" in bad.output
