"""DistributedDataParallel through ``torchrun``: two CPU processes on gloo train exactly like one process that sees
the same global batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from patchflow.data.store import open_store
from patchflow.models import build_model
from patchflow.training import make_config, read_metrics, train
from patchflow.training.trainer import complete_model_config

BIN = Path(sys.executable).parent
#: A tiny model without batch norm or dropout (their per-process statistics and draws differ by design).
SETTINGS = {"epochs": 1, "batch_size": 16, "max_batches_per_epoch": 2, "max_valid_batches": 1, "lr": 1e-3,
            "progress": False, "model.batch_norm": False, "model.dropout": 0, "model.mlp_hidden": 32}


def test_two_gloo_processes_match_one_process_on_the_same_global_batch(small_dexed_store, tmp_path):
    data = str(getattr(small_dexed_store, "path", small_dexed_store))
    single = train(make_config(data, tmp_path / "single", "mlp", preset="small", overrides=SETTINGS))

    sets = [arg for key, value in SETTINGS.items() if key != "progress"
            for arg in ("--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}")]
    command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "--no-python", str(BIN / "patchflow"),
               "train", "--data", data, "--model", "mlp", "--preset", "small", "--out", str(tmp_path / "ddp"),
               "--no-progress", *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    assert [r["step"] for r in read_metrics(single)] == [r["step"] for r in read_metrics(tmp_path / "ddp")] == [2.0]
    one = torch.load(single / "checkpoints" / "last.pt", weights_only=True)["model"]
    two = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert one.keys() == two.keys()
    for key in one:
        # Adam divides each gradient by its own magnitude, so a weight whose gradient is zero up to rounding (the
        # first layer's weights of mel bins that are silent in these batches; the two runs sum in different orders)
        # can move by up to ~lr in one run and not the other. A real difference between the runs (other batches,
        # gradients not averaged) moves nearly every weight by ~lr = 1e-3, so: almost every weight agrees.
        off = ~torch.isclose(one[key], two[key], rtol=1e-5, atol=2e-5)
        assert off.float().mean() <= 0.005, f"{key}: {int(off.sum())} of {off.numel()} weights differ"
    # the runs did train: two Adam steps moved the weights well beyond the tolerance
    init = make_config(data, tmp_path / "x", "mlp", preset="small", overrides=SETTINGS)
    torch.manual_seed(init.seed)
    fresh = build_model(complete_model_config(init, open_store(data)).model).state_dict()
    assert not torch.allclose(fresh["head.linear.weight"], one["head.linear.weight"], atol=1e-4)
