"""The evaluation's cost: test items scored per second, every metric of the report, no search.

A real Dexed store of 256 presets and a `cnn` trained for one short epoch (the `cpu` preset's sizes); the benchmark
times `evaluate` on 32 test items with the reference rows (mean preset, retrieval) and the model row: each row
re-renders its presets through Dexed and computes every audio metric. Reported per item and row in ``extra_info``
(``items_per_s`` counts items x rows). Run with ``make benchmark``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchflow.data.build import BuildOptions, build_store
from patchflow.data.store import open_store
from patchflow.evaluation.evaluate import EvalSettings, evaluate
from patchflow.runtime import load_run
from patchflow.training import make_config, train

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "data" / "dx7" / "!Unsorted"
ITEMS = 32


@pytest.fixture(scope="module")
def store_and_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval-bench")
    store_path = folder / "dexed.zarr"
    build_store("dexed", [CORPUS], store_path, BuildOptions(params="16", limit=256, seed=0, split="random"))
    config = make_config(store_path, folder / "cnn", "cnn", preset="cpu",
                         overrides={"epochs": 1, "max_batches_per_epoch": 4, "progress": False})
    return open_store(store_path), load_run(train(config))


def test_evaluation_items_per_second(benchmark, store_and_run) -> None:
    store, run = store_and_run
    settings = EvalSettings(max_items=ITEMS, examples=0, workers=2)
    result = benchmark.pedantic(lambda: evaluate([run], store, settings=settings), rounds=3, iterations=1,
                                warmup_rounds=1)
    rows = len(result.rows)
    assert rows == 3 and all("mss" in row.scores["test"] for row in result.rows)
    if benchmark.stats is None:  # --benchmark-disable: ran once as a smoke test, nothing measured
        return
    items = min(ITEMS, len(store.split_indices("test")))
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update({"items": items, "rows": rows, "items_per_s": round(items * rows / seconds, 1),
                                 "ms_per_item_and_row": round(1000 * seconds / (items * rows), 2)})
