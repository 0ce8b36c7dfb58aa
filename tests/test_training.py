"""The trainer on a real small Dexed store: every model learns, checkpoints reload, resume is exact, NaN and
interruption are handled, and the command line works."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import numpy as np
import torch
from typer.testing import CliRunner

from patchflow import hookimpl
from patchflow.cli import app
from patchflow.data.loader import make_loader
from patchflow.data.store import open_store
from patchflow.errors import PatchflowError
from patchflow.models.baselines import MLPModel
from patchflow.models.plugin import BUILTIN_MODELS
from patchflow.plugins import register_plugin, unregister_plugin
from patchflow.training import (
    NonFiniteLossError,
    TrainingError,
    TrainingInterrupted,
    make_config,
    read_metrics,
    train,
)
from patchflow.runtime import load_run

#: Tiny runs (the small preset, narrowed further to fit the CI budget): 3 epochs of 3 batches of 8, validation on
#: the first 16 rows, no warm-up (so losses of different epochs compare).
QUICK = {"epochs": 3, "batch_size": 8, "max_batches_per_epoch": 3, "max_valid_batches": 2, "beta_warmup_epochs": 0,
         "progress": False, "model.conv_layers": 3, "model.conv_channels": 8, "model.kernel_size": 3,
         "model.mlp_hidden": 64, "model.head_hidden": 32, "model.regressor_hidden": 32, "model.flow_steps": 2,
         "model.posterior_flow_steps": 2, "model.flow_hidden": [16, 16]}
VALID_ROWS = 16


#: Tiny models run faster on one thread than split over two busy cores (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def store_path(fixture) -> Path:
    return Path(getattr(fixture, "path", fixture))


def quick_config(store, out: Path, model: str, **overrides):
    return make_config(store_path(store), out, model, preset="small", overrides={**QUICK, **overrides})


def interrupt_at(step: int):
    """A step callback that sends this process SIGINT after optimisation step ``step``, as Ctrl-C would."""

    def callback(info) -> None:
        if info.step == step:
            os.kill(os.getpid(), signal.SIGINT)

    return callback


def valid_param_mse(run) -> float:
    """Parameter MSE of a loaded model over the store's validation split."""
    store = open_store(run.store_path)
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in make_loader(store, store.split_indices("valid")[:VALID_ROWS], 8, shuffle=False):
            pred = run.model.predict_params(batch["mel"])
            total += float(((pred - batch["params"]) ** 2).mean(dim=1).sum())
            count += batch["mel"].shape[0]
    return total / count


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_every_model_learns_and_its_checkpoint_reproduces_its_validation_score(name, request, tmp_path):
    fixture = request.getfixturevalue("tagged_dexed_store" if name == "flow_dis" else "small_dexed_store")
    store = open_store(store_path(fixture))
    out = train(quick_config(fixture, tmp_path / name, name))
    rows = read_metrics(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["train_loss"]) for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    run = load_run(out, checkpoint="best")
    assert not run.model.training
    best = next(r for r in rows if int(r["epoch"]) == run.checkpoint_info["epoch"])
    assert valid_param_mse(run) == pytest.approx(best["valid_param_mse"], rel=1e-4)
    assert run.parameters.names == store.parameters.names
    assert run.synth_id == store.synth_id == "dexed"
    assert run.tag_pairs == list(store.tag_pairs)
    assert (run.mel_mean, run.mel_std) == (store.mel_mean, store.mel_std)
    assert run.render_settings == store.render_settings and run.feature_settings == store.features
    assert run.store_path.resolve() == store.path.resolve()


def test_flow_dis_needs_tag_pairs_and_says_so(small_dexed_store, tmp_path):
    if open_store(store_path(small_dexed_store)).tag_pairs:
        pytest.fail("expected the DX7 store to have no tag pairs")
    with pytest.raises(PatchflowError, match="flow_dis needs a store with tag pairs"):
        train(quick_config(small_dexed_store, tmp_path / "dis", "flow_dis"))


def test_resume_after_interruption_continues_exactly(small_dexed_store, tmp_path):
    whole = train(quick_config(small_dexed_store, tmp_path / "whole", "vae"))

    config = quick_config(small_dexed_store, tmp_path / "parts", "vae")
    with pytest.raises(TrainingInterrupted, match="interrupted at epoch 2, batch 2"):
        train(config, callbacks=[interrupt_at(5)])  # epoch 2, batch 2 of 3
    assert len(read_metrics(tmp_path / "parts")) == 1
    with pytest.raises(TrainingError, match="already holds a run"):
        train(config)
    parts = train(config, resume=True)

    a = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(parts / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_metrics(whole)) == strip(read_metrics(parts))


def test_resume_needs_a_run_and_the_same_model(small_dexed_store, tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(quick_config(small_dexed_store, tmp_path / "none", "mlp"), resume=True)
    train(quick_config(small_dexed_store, tmp_path / "run", "mlp", epochs=1, max_batches_per_epoch=1))
    other = quick_config(small_dexed_store, tmp_path / "run", "mlp", **{"model.mlp_hidden": 8})
    with pytest.raises(TrainingError, match="model config differs"):
        train(other, resume=True)
    longer = train(quick_config(small_dexed_store, tmp_path / "run", "mlp", epochs=2, max_batches_per_epoch=1),
                   resume=True)
    assert [int(r["epoch"]) for r in read_metrics(longer)] == [1, 2]


class _NaNAfterFiveSteps(MLPModel):
    """The MLP baseline whose loss turns NaN at its sixth training step (stands beside the real models)."""

    def loss(self, batch, *, beta=1.0):
        out = super().loss(batch, beta=beta)
        if self.training:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls > 5:
                out["loss"] = out["loss"] * float("nan")
        return out


class _NaNPlugin:
    @hookimpl
    def register_models(self, register):
        register("nan_after_five", _NaNAfterFiveSteps)


@pytest.fixture()
def nan_model():
    register_plugin(_NaNPlugin(), name="test-nan-plugin")
    yield
    unregister_plugin("test-nan-plugin")


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(nan_model, small_dexed_store, tmp_path):
    config = quick_config(small_dexed_store, tmp_path / "nan", "nan_after_five")
    with pytest.raises(NonFiniteLossError, match="non-finite at epoch 2, step 6"):
        train(config)
    assert len(read_metrics(tmp_path / "nan")) == 1
    run = load_run(tmp_path / "nan", checkpoint="last")
    assert run.checkpoint_info["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in run.model.state_dict().values() if t.is_floating_point())
    result = CliRunner().invoke(app, ["train", "--resume", "--out", str(tmp_path / "nan"), "--no-progress"])
    assert result.exit_code == 1
    assert "non-finite" in result.output and "last good checkpoint" in result.output


def test_train_command_writes_a_run_and_refuses_bad_settings(small_dexed_store, tmp_path):
    out = tmp_path / "cli"
    args = ["train", "--data", str(store_path(small_dexed_store)), "--model", "cnn", "--out", str(out),
            "--preset", "small", "--epochs", "1", "--max-batches", "2", "--batch-size", "8", "--no-progress",
            "--set", "model.conv_channels=8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["preset"] == "small" and saved["batch_size"] == 8 and saved["model"]["conv_channels"] == 8
    assert saved["model"]["n_params"] == len(open_store(store_path(small_dexed_store)).parameters)
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"best.pt", "best.json", "last.pt", "last.json"}
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "already holds a run" in again.output
    bad = CliRunner().invoke(app, args[:-1] + ["model.no_such_field=3"] + ["--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "no_such_field" in bad.output
    unknown = CliRunner().invoke(app, ["train", "--data", str(store_path(small_dexed_store)), "--model", "nope",
                                       "--out", str(tmp_path / "y"), "--no-progress"])
    assert unknown.exit_code == 1 and "unknown model 'nope'" in unknown.output
    missing = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "absent.zarr"), "--model", "cnn",
                                       "--out", str(tmp_path / "z"), "--no-progress"])
    assert missing.exit_code == 1 and "absent.zarr" in missing.output


def test_load_run_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(TrainingError, match="not a training run"):
        load_run(tmp_path)


def test_a_relative_store_path_is_found_again_from_another_folder(small_dexed_store, tmp_path, monkeypatch):
    store = store_path(small_dexed_store).resolve()
    monkeypatch.chdir(store.parent)
    out = tmp_path / "rel"
    train(quick_config(store.name, out, "mlp", epochs=1, max_batches_per_epoch=1))
    monkeypatch.chdir(tmp_path)
    run = load_run(out)
    assert json.loads((out / "data.json").read_text())["path"] == store.name
    assert run.store_path.resolve() == store
    train(quick_config(store.name, out, "mlp", epochs=2, max_batches_per_epoch=1), resume=True)
    assert len(read_metrics(out)) == 2


def test_a_time_limit_stops_after_the_epoch_that_reaches_it(small_dexed_store, tmp_path) -> None:
    overrides = {"epochs": 20, "batch_size": 16, "max_batches_per_epoch": 2, "max_valid_batches": 1,
                 "beta_warmup_epochs": 0, "progress": False, "model.conv_channels": 8, "model.mlp_hidden": 32,
                 "time_limit_s": 1e-6}
    run = train(make_config(small_dexed_store.path, tmp_path / "timed", "mlp", preset="small", overrides=overrides))
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    assert info["status"] == "time_limit" and info["epoch"] == 1 and info["train_seconds"] > 0
    assert len(read_metrics(run)) == 1


@pytest.mark.parametrize("name", ["cnn", "flow_post"])
def test_cpu_mixed_precision_trains_in_bfloat16_and_keeps_float32_weights(name, small_dexed_store, tmp_path):
    settings = {"model.ae_encoder": "sequence"}
    mixed = train(quick_config(small_dexed_store, tmp_path / "mixed", name, cpu_amp=True, **settings))
    plain = train(quick_config(small_dexed_store, tmp_path / "plain", name, **settings))
    rows = read_metrics(mixed)
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["valid_loss"]) for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # the same seed and data: only the precision differs, and it shows in the losses
    assert rows[0]["train_loss"] != read_metrics(plain)[0]["train_loss"]
    weights = torch.load(mixed / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert {w.dtype for w in weights.values()} <= {torch.float32, torch.int64}


def test_the_cpu_preset_trains_in_mixed_precision_where_the_cpu_has_bfloat16_instructions(tmp_path):
    from patchflow.training.config import cpu_has_bfloat16

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # the kernel's own list of the CPU's instruction sets, an independent answer
        flags = {f for line in cpuinfo.read_text().splitlines() if line.startswith("flags") for f in line.split()}
        assert cpu_has_bfloat16() == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert make_config(tmp_path / "s.zarr", tmp_path / "r", "cnn", preset="cpu").cpu_amp == cpu_has_bfloat16()
    assert not make_config(tmp_path / "s.zarr", tmp_path / "r", "cnn", preset="small").cpu_amp


def test_small_grids_can_be_classified_instead_of_regressed(small_dexed_store, tmp_path) -> None:
    overrides = {"epochs": 1, "batch_size": 16, "max_batches_per_epoch": 3, "max_valid_batches": 1,
                 "beta_warmup_epochs": 0, "progress": False, "model.conv_channels": 8, "model.mlp_hidden": 32,
                 "model.classify_steps": 64, "model.recon_weight": 0.01}
    table = small_dexed_store.parameters
    grids = {i: int(round((s.high - s.low) / s.step)) + 1 for i, s in enumerate(table)
             if s.is_continuous and s.step and (s.high - s.low) / s.step + 1 <= 64}
    assert grids, "the small store learns no parameter with a small grid"
    for model in ("cnn", "flow_post"):
        run = load_run(train(make_config(small_dexed_store.path, tmp_path / model, model, preset="small",
                                         overrides=overrides)))
        cards = run.config.model.cardinalities
        assert all(cards[i] == n for i, n in grids.items())
        assert all(cards[i] == 0 for i, s in enumerate(table) if s.is_continuous and i not in grids)
        mel = run.normalise_mel(torch.as_tensor(np.asarray(small_dexed_store.mel[:8]), dtype=torch.float32))
        with torch.no_grad():
            params = run.model.predict_params(mel).double().numpy()
        for i, n in grids.items():  # a classified value is one of its grid's values
            np.testing.assert_allclose(params[:, i] * (n - 1), np.round(params[:, i] * (n - 1)), atol=1e-5)


def test_validation_weighs_the_regulariser_by_its_final_weight_through_the_warm_up(small_dexed_store, tmp_path):
    """During the warm-up the training loss uses the epoch's beta and the validation loss ``beta_max``, so the
    validation losses of all epochs are one objective (the best checkpoint and the plateau schedule compare them)."""
    out = train(quick_config(small_dexed_store, tmp_path / "vae", "vae", beta_warmup_epochs=3, beta_max=0.5))
    rows = read_metrics(out)
    assert [r["beta"] for r in rows] == pytest.approx([0.0, 0.5 / 3, 1.0 / 3])
    for row in rows:
        assert row["valid_loss"] == pytest.approx(row["valid_recon"] + row["valid_params"] + 0.5 * row["valid_reg"],
                                                  rel=1e-5)
        assert row["train_loss"] < row["train_recon"] + row["train_params"] + 0.5 * row["train_reg"]


def test_the_cosine_schedule_decays_over_the_epochs_and_resumes_exactly(small_dexed_store, tmp_path):
    """``lr_schedule=cosine`` sets the rate batch by batch from the budget spent; without a time limit that is a
    count of batches, so an interrupted run resumes onto the same rates and weights."""
    settings = {"lr_schedule": "cosine", "lr": 1e-3, "min_lr": 1e-5}
    config = quick_config(small_dexed_store, tmp_path / "whole", "vae", **settings)
    assert config.lr_factor(0.0) == pytest.approx(1.0) and config.lr_factor(1.0) == pytest.approx(0.01)
    assert config.lr_factor(0.5) == pytest.approx(0.505) and config.lr_factor(2.0) == pytest.approx(0.01)
    whole = train(config)
    rows = read_metrics(whole)
    # the rate logged after an epoch is the one of its last batch (2 of 0..2) of 3 epochs of 3 batches
    expected = [1e-3 * config.lr_factor((epoch + 2 / 3) / 3) for epoch in range(3)]
    assert [r["lr"] for r in rows] == pytest.approx(expected)

    parts_config = quick_config(small_dexed_store, tmp_path / "parts", "vae", **settings)
    with pytest.raises(TrainingInterrupted):
        train(parts_config, callbacks=[interrupt_at(5)])
    parts = train(parts_config, resume=True)
    a = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(parts / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_cosine_schedule_follows_the_time_limit_when_it_ends_the_run_first(small_dexed_store, tmp_path):
    """With a time limit of a moment, the first batch is already past the budget: the run trains at ``min_lr``."""
    config = quick_config(small_dexed_store, tmp_path / "timed", "mlp", lr_schedule="cosine", min_lr=1e-5,
                          epochs=50, time_limit_s=1e-6)
    rows = read_metrics(train(config))
    assert len(rows) == 1 and rows[0]["lr"] == pytest.approx(1e-5)


def test_the_weight_average_is_validated_saved_as_best_and_resumes_exactly(small_dexed_store, tmp_path,
                                                                            monkeypatch):
    """``ema_decay``: the last checkpoint's average equals one recomputed from the raw weights of every step, the
    best checkpoint holds the average and scores as logged, and an interrupted run resumes onto the same average."""
    from patchflow.training.averaging import WeightAverage

    raw_steps: list[dict[str, torch.Tensor]] = []
    real_update = WeightAverage.update

    def recording_update(self, model):
        raw_steps.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        real_update(self, model)

    monkeypatch.setattr(WeightAverage, "update", recording_update)
    settings = {"ema_decay": 0.5, "epochs": 2}
    whole = train(quick_config(small_dexed_store, tmp_path / "whole", "flow_post", **settings))
    monkeypatch.undo()
    assert len(raw_steps) == 6
    expected = dict(raw_steps[0])
    for step in raw_steps[1:]:
        for key, value in step.items():
            expected[key] = 0.5 * expected[key] + 0.5 * value if value.is_floating_point() else value
    last = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)
    averaged = last["average"]["model"]
    assert int(last["average"]["updates"]) == 6
    assert averaged.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(averaged[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)
    floating = [k for k in expected if expected[k].is_floating_point()]
    assert any(not torch.equal(averaged[k], last["model"][k]) for k in floating)
    # integer buffers (permutations, indices) are copied, never averaged through floats
    assert all(torch.equal(averaged[k], last["model"][k]) for k in expected if k not in floating)

    run = load_run(whole, checkpoint="best")
    best = next(r for r in read_metrics(whole) if int(r["epoch"]) == run.checkpoint_info["epoch"])
    assert valid_param_mse(run) == pytest.approx(best["valid_param_mse"], rel=1e-4)
    if run.checkpoint_info["epoch"] == 2:
        best_weights = torch.load(whole / "checkpoints" / "best.pt", weights_only=True)["model"]
        assert all(torch.equal(best_weights[k], averaged[k]) for k in expected)

    parts_config = quick_config(small_dexed_store, tmp_path / "parts", "flow_post", **settings)
    with pytest.raises(TrainingInterrupted):
        train(parts_config, callbacks=[interrupt_at(4)])
    shutil.copytree(tmp_path / "parts", tmp_path / "bare")
    bare_last = tmp_path / "bare" / "checkpoints" / "last.pt"
    torch.save({k: v for k, v in torch.load(bare_last, weights_only=True).items() if k != "average"}, bare_last)
    with pytest.raises(TrainingError, match="no weight average"):
        train(quick_config(small_dexed_store, tmp_path / "bare", "flow_post", **settings), resume=True)
    parts = train(parts_config, resume=True)
    resumed = torch.load(parts / "checkpoints" / "last.pt", weights_only=True)["average"]
    assert int(resumed["updates"]) == 6 and resumed["model"].keys() == averaged.keys()
    for key, value in averaged.items():
        assert torch.equal(value, resumed["model"][key]), key
