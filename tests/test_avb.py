"""Adversarial Variational Bayes (``vae_avb``) and the trainer's several optimisers: the discriminator's KL estimate
against a closed form, the declared steps, exact resume with two optimisers, checkpoints of one-optimiser models
unchanged, and evaluation of a trained run."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from patchflow.apps.export import export_run
from patchflow.evaluation.evaluate import EvalSettings, evaluate
from patchflow.model import TrainingStep
from patchflow.models import ModelConfig, ModelConfigError, build_model
from patchflow.models.avb import Discriminator, discriminator_loss
from patchflow.models.baselines import MLPModel
from patchflow.runtime import load_run
from patchflow.training import TrainingError, TrainingInterrupted, make_config, read_metrics, train

#: As test_training.QUICK: 3 epochs of 3 batches of 8, tiny networks.
QUICK = {"epochs": 3, "batch_size": 8, "max_batches_per_epoch": 3, "max_valid_batches": 2, "beta_warmup_epochs": 0,
         "progress": False, "model.conv_layers": 3, "model.conv_channels": 8, "model.kernel_size": 3,
         "model.regressor_hidden": 32}
#: Relative tolerance of the discriminator's KL estimate (measured at this size: 1% at seed 0, 3-7% low at seeds
#: 1-3).
KL_TOLERANCE = 0.10


#: Tiny models run faster on one thread than split over two busy cores (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def quick_config(store, out: Path, model: str = "vae_avb", **overrides):
    return make_config(Path(getattr(store, "path", store)), out, model, preset="small",
                       overrides={**QUICK, **overrides})


def test_the_discriminator_estimates_the_kl_of_a_gaussian_posterior():
    """q(z | x) = N(A x, s^2 I) against p(z) = N(0, I): trained with the AVB objective, E_q[T(x, z)] is the
    closed-form KL, 0.5 * sum(mu^2 + s^2 - 1 - log s^2), averaged over x ~ N(0, I)."""
    torch.manual_seed(0)
    x_dim, z_dim, s = 4, 4, 0.5
    a = torch.randn(x_dim, z_dim) * 0.5

    def posterior(x):
        mu = x @ a
        return mu + s * torch.randn_like(mu), mu

    t = Discriminator(x_dim, z_dim, hidden=64)
    optimiser = torch.optim.Adam(t.parameters(), lr=1e-3)
    for _ in range(1500):
        x = torch.randn(256, x_dim)
        z, _ = posterior(x)
        loss = discriminator_loss(t(x, z), t(x, torch.randn_like(z)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        x = torch.randn(20000, x_dim)
        z, mu = posterior(x)
        estimate = float(t(x, z).mean())
    analytic = float((0.5 * (mu ** 2 + s ** 2 - 1 - math.log(s ** 2)).sum(dim=1)).mean())
    assert analytic > 1.0  # a KL worth estimating
    assert estimate == pytest.approx(analytic, rel=KL_TOLERANCE)


def small_model(name: str = "vae_avb", **update):
    config = ModelConfig(name=name, n_params=6, input_shape=(128, 20)).with_preset("small")
    return build_model(config.model_copy(update={"conv_layers": 3, **update}))


@pytest.mark.parametrize("name, update", [("vae_avb", {}), ("flow_post", {"latent_regulariser": "avb"}),
                                          ("vae_flow", {"latent_regulariser": "avb"})])
def test_avb_declares_a_model_step_and_a_discriminator_step_over_disjoint_parameters(name, update):
    torch.manual_seed(0)
    model = small_model(name, **update)
    assert model.regulariser == "avb" and model.to_logvar is None
    main, disc = model.training_steps()
    assert (main.name, disc.name) == ("main", "disc")
    disc_ids = {id(p) for p in model.avb.discriminator.parameters()}
    assert {id(p) for p in disc.parameters} == disc_ids
    assert {id(p) for p in main.parameters} == {id(p) for p in model.parameters()} - disc_ids
    batch = {"mel": torch.randn(6, 128, 20), "params": torch.rand(6, 6), "classes": torch.full((6, 6), -1),
             "tags": torch.zeros(6, 0)}
    # the discriminator step reaches the discriminator only
    model(batch, 1.0, step="disc")["loss"].backward()
    assert all(p.grad is None for p in main.parameters)
    assert all(p.grad is not None for p in disc.parameters)
    # the model's loss is the first step's; its KL term is the discriminator's estimate
    out = model(batch, 0.5)
    assert set(out) >= {"loss", "recon", "reg", "params"}
    # encoding is deterministic (the noise's mode), a sample is not
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.encode(batch["mel"]), model.encode(batch["mel"]))
        assert not torch.equal(model.sample_latent(batch["mel"])[0], model.sample_latent(batch["mel"])[0])
        z = model.encode(batch["mel"])
        assert torch.allclose(model.predict_params(batch["mel"]), model.params_from_latent(z))


def test_the_avb_switch_leaves_kl_models_as_they_were_and_refuses_models_without_a_kl():
    torch.manual_seed(0)
    plain = small_model("flow_post")
    assert plain.avb is None and len(plain.training_steps()) == 1
    keys = plain.state_dict().keys()
    assert {"to_mean.weight", "to_logvar.weight"} <= set(keys) and not any(k.startswith("avb.") for k in keys)
    for name in ("ae", "wae"):
        with pytest.raises(ModelConfigError, match="replaces a KL term"):
            small_model(name, latent_regulariser="avb")


def test_vae_avb_trains_and_resumes_exactly_with_both_optimisers(small_dexed_store, tmp_path):
    whole = train(quick_config(small_dexed_store, tmp_path / "whole"))
    rows = read_metrics(whole)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"lr_disc", "train_disc_loss", "train_disc_kl_estimate", "train_reg", "valid_reg"} <= set(rows[0])
    assert all(math.isfinite(r["train_disc_loss"]) for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]

    def interrupt_at_step_5(info):
        if info.step == 5:  # mid-epoch: epoch 2, batch 2 of 3
            os.kill(os.getpid(), signal.SIGINT)

    config = quick_config(small_dexed_store, tmp_path / "parts")
    with pytest.raises(TrainingInterrupted, match="interrupted at epoch 2, batch 2"):
        train(config, callbacks=[interrupt_at_step_5])
    parts = train(config, resume=True)

    a = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(parts / "checkpoints" / "last.pt", weights_only=True)
    assert {"optimizer", "scheduler", "optimizer_disc", "scheduler_disc"} <= set(a)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for name in ("optimizer", "optimizer_disc"):  # both optimisers' moments came back exactly
        for index, state in a[name]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b[name]["state"][index][key]), (name, index, key)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_metrics(whole)) == strip(read_metrics(parts))


def test_a_flow_model_trains_with_the_avb_regulariser(small_dexed_store, tmp_path):
    out = train(quick_config(small_dexed_store, tmp_path / "flow", "flow_post", **{
        "model.latent_regulariser": "avb", "model.flow_steps": 2, "model.posterior_flow_steps": 2,
        "model.flow_hidden": [16, 16]}))
    rows = read_metrics(out)
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["train_disc_loss"]) for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert "optimizer_disc" in torch.load(out / "checkpoints" / "last.pt", weights_only=True)


def test_models_of_one_optimiser_keep_their_checkpoint_layout(small_dexed_store, tmp_path):
    out = train(quick_config(small_dexed_store, tmp_path / "vae", "vae", epochs=1, max_batches_per_epoch=1))
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert {k for k in saved if not k.startswith("rng_")} == {"model", "optimizer", "scheduler", "scaler"}
    assert "lr_main" not in read_metrics(out)[0] and not any(k.startswith("train_main") for k in read_metrics(out)[0])


class _Overlapping(MLPModel):
    def training_steps(self):
        every = tuple(self.parameters())
        return [TrainingStep("main", every), TrainingStep("again", every[:1])]


def test_steps_sharing_a_parameter_are_refused(small_dexed_store, tmp_path, monkeypatch):
    from patchflow.training import trainer

    monkeypatch.setattr(trainer, "build_model", lambda config: _Overlapping(config))
    with pytest.raises(TrainingError, match="more than one training step"):
        train(quick_config(small_dexed_store, tmp_path / "bad", "mlp"))


def test_a_trained_vae_avb_run_evaluates_and_exports_like_the_others(small_dexed_store, tmp_path):
    run = load_run(train(quick_config(small_dexed_store, tmp_path / "vae_avb", epochs=1)))
    settings = EvalSettings(max_items=3, refine_budget=0.1, latent_samples=2, neighbours=2, examples=0, workers=1)
    result = evaluate([run], small_dexed_store, settings=settings)
    rows = {row.name: row for row in result.rows}
    assert {"vae_avb", "vae_avb + retrieval", "vae_avb + refinement"} <= set(rows), list(rows)
    scores = rows["vae_avb"].scores["test"]
    assert scores["sc"].shape == (3,) and np.all(np.isfinite(scores["sc"]))
    assert np.all((rows["vae_avb"].params["test"] >= 0) & (rows["vae_avb"].params["test"] <= 1))
    assert np.all(rows["vae_avb + retrieval"].scores["test"]["sc"] <= scores["sc"] + 1e-12)
    # the encoder exports as the others' do; the traced graph gives the model's prediction
    files = export_run(run, tmp_path / "ts", "torchscript")
    assert sorted(files) == ["latent_to_params", "mel_to_params", "meta"]
    mel = torch.as_tensor(np.asarray(small_dexed_store.mel[:1]), dtype=torch.float32)
    with torch.no_grad():
        expected = run.model.predict_params(run.normalise_mel(mel)).clamp(0, 1)
        got = torch.jit.load(str(files["mel_to_params"]))(mel)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_vae_avb_trains_under_torchrun_with_two_processes(small_dexed_store, tmp_path):
    """DistributedDataParallel with two optimisation steps (the discriminator step leaves the encoder without
    gradients, which DDP must be told about)."""
    bin_dir = Path(sys.executable).parent
    sets = {"epochs": 2, "batch_size": 16, "max_batches_per_epoch": 2, "max_valid_batches": 1,
            "model.conv_layers": 3, "model.conv_channels": 8, "model.regressor_hidden": 32}
    command = [str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node=2", "--no-python",
               str(bin_dir / "patchflow"), "train", "--data", str(small_dexed_store.path), "--model", "vae_avb",
               "--preset", "small", "--out", str(tmp_path / "ddp"), "--no-progress",
               *[arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_metrics(tmp_path / "ddp")
    assert [r["step"] for r in rows] == [2.0, 4.0]
    assert all(math.isfinite(r["train_disc_loss"]) and math.isfinite(r["train_loss"]) for r in rows)
    saved = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["optimizer_disc"]["state"] and saved["optimizer"]["state"]
