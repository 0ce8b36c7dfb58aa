"""Training speed per model family at batch 64 on CPU, and the loader's rate from a real zarr store.

The loader must not be the bottleneck: ``test_loader_rate`` reports items/s of the loader (the zarr read of the
split, and the in-memory batches of an epoch) and their ratio to the training rate of the fastest baseline. Sizes
follow ``PATCHFLOW_BENCH_PRESET`` (``small`` by default, ``paper`` for the paper's sizes). Run with
``make benchmark``; numbers land in ``extra_info``.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

from patchflow.data.build import BuildOptions, build_store
from patchflow.data.loader import make_loader
from patchflow.data.store import open_store
from patchflow.models import ModelConfig, build_model

BATCH = 64
PRESET = os.environ.get("PATCHFLOW_BENCH_PRESET", "small")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "data" / "dx7" / "!Unsorted"
#: One model per family; the auto-encoders without flows (ae, vae, wae) cost the same as vae.
FAMILIES = ["mlp", "cnn", "rescnn", "vae", "wae", "vae_flow", "flow_post", "flow_cond", "flow_dis", "flow_gen"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real Dexed store of 256 presets (16 learned parameters, 128 x 87 mels)."""
    out = tmp_path_factory.mktemp("bench") / "dexed.zarr"
    build_store("dexed", [CORPUS], out, BuildOptions(params="16", limit=256, seed=0, split="grouped"))
    return open_store(out)


def _model_and_batch(store, name: str):
    cards = [spec.cardinality for spec in store.parameters]
    config = ModelConfig(name=name, n_params=len(cards), cardinalities=cards if any(cards) else [],
                         input_shape=tuple(store.mel.shape[1:]), n_tags=1)
    config = config.with_preset(PRESET)  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = build_model(config).train()
    batch = next(iter(make_loader(store, "train", BATCH, shuffle=True, seed=0)))
    if batch["mel"].shape[0] < BATCH:  # a tiny split: repeat rows up to the batch size
        reps = -(-BATCH // batch["mel"].shape[0])
        batch = {k: v.repeat(reps, *[1] * (v.dim() - 1))[:BATCH] for k, v in batch.items()}
    batch["tags"] = torch.randint(-1, 2, (BATCH, 1)).float()  # flow_dis needs a tag pair; Dexed has none
    return model, batch


def _step_fn(model, batch, precision: torch.dtype | None = None):
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)

    def step() -> None:
        with torch.autocast("cpu", dtype=precision) if precision is not None else nullcontext():
            loss = model(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _measure_steps(benchmark, store, name: str, precision: torch.dtype | None = None) -> None:
    model, batch = _model_and_batch(store, name)
    benchmark.pedantic(_step_fn(model, batch, precision), rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.stats is None:  # --benchmark-disable: ran once as a smoke test, nothing measured
        return
    steps = 1.0 / benchmark.stats.stats.mean
    benchmark.extra_info.update({"preset": PRESET, "batch": BATCH, "steps_per_s": round(steps, 3),
                                 "samples_per_s": round(steps * BATCH, 1),
                                 "precision": str(precision or torch.float32).removeprefix("torch."),
                                 "parameters": sum(p.numel() for p in model.parameters())})


@pytest.mark.parametrize("name", FAMILIES)
def test_training_steps_per_second(benchmark, store, name: str) -> None:
    _measure_steps(benchmark, store, name)


def test_loader_rate(benchmark, store) -> None:
    started = time.perf_counter()
    loader = make_loader(store, "train", BATCH, shuffle=True, seed=0)
    read_rate = len(loader.rows) / (time.perf_counter() - started)

    def epoch() -> int:
        return sum(b["mel"].shape[0] for b in loader)

    benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=1)
    if benchmark.stats is None:  # --benchmark-disable: ran once as a smoke test, nothing measured
        return
    batch_rate = len(loader.rows) / benchmark.stats.stats.mean

    model, batch = _model_and_batch(store, "cnn")
    step = _step_fn(model, batch)
    step()
    started = time.perf_counter()
    for _ in range(3):
        step()
    train_rate = 3 * BATCH / (time.perf_counter() - started)
    benchmark.extra_info.update({
        "zarr_read_items_per_s": round(read_rate, 1),
        "batch_items_per_s": round(batch_rate, 1),
        "cnn_training_samples_per_s": round(train_rate, 1),
        "batches_to_training_ratio": round(batch_rate / train_rate, 1),
        "zarr_read_to_training_ratio": round(read_rate / train_rate, 1),
    })


@pytest.mark.parametrize("name", ["cnn", "flow_post", "flow_gen"])
def test_training_steps_per_second_in_bfloat16(benchmark, store, name: str) -> None:
    """The same steps under CPU mixed precision (``cpu_amp``: autocast to bfloat16), for the rate beside the
    float32 one of ``test_training_steps_per_second``; it pays only on CPUs with AVX512-BF16 or AMX."""
    _measure_steps(benchmark, store, name, torch.bfloat16)
