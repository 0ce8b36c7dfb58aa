"""``scripts/parameter_errors.py``: per-parameter errors of real runs on a real store's test split, checked against
a computation made here from the loaded model, and the training split's mode counted independently."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from patchflow.runtime import load_run

from repo_scripts import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("parameter_errors")


def test_the_table_matches_the_models_own_predictions(script, tiny_run, small_dexed_store, tmp_path, capsys):
    runs = [tiny_run("cnn"), tiny_run("flow_post")]
    out = tmp_path / "errors.json"
    assert script.main([*map(str, runs), "--data", str(small_dexed_store.path), "--max-items", "12",
                        "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    table = json.loads(out.read_text())
    store = small_dexed_store
    names = store.parameters.names
    assert table["items"] == 12 and list(table["parameters"]) == names
    assert all(f"| {name} |" in printed for name in names)

    rows = np.sort(np.asarray(store.split_indices("test"))[:12])
    samples = [store[int(i)] for i in rows]
    truth = store.parameters.to_native(np.stack([s.params for s in samples]).astype(np.float64))
    mels = torch.from_numpy(np.stack([s.mel for s in samples]))
    for run_dir in runs:
        run = load_run(run_dir)
        with torch.no_grad():
            predicted = store.parameters.to_native(run.model.predict_params(mels).double().numpy())
        for i, name in enumerate(names):
            cell = table["parameters"][name][run_dir.name]
            error = np.abs(predicted[:, i] - truth[:, i])
            assert cell["mae"] == pytest.approx(error.mean(), abs=1e-9), (run_dir.name, name)
            assert cell["exact"] == pytest.approx(np.mean(error == 0)), (run_dir.name, name)

    train = [store[int(i)].params for i in store.split_indices("train")]
    native_train = store.parameters.to_native(np.stack(train).astype(np.float64))
    for i, name in enumerate(names):
        mode = Counter(native_train[:, i].tolist()).most_common(1)[0][0]
        assert table["parameters"][name]["training mode"]["exact"] == pytest.approx(np.mean(truth[:, i] == mode))


def test_an_empty_test_split_is_refused(script, tiny_run, small_dexed_store, capsys):
    assert script.main([str(tiny_run("cnn")), "--data", str(small_dexed_store.path), "--max-items", "0"]) == 1
    assert "test split is empty" in capsys.readouterr().err
