"""``scripts/measure_best_of_n.py`` on a real store and a tiny ``flow_gen`` run: best of N nests (more candidates
never score worse), the JSON holds every method's per-item values and the items' voices, and ``--against`` pairs
two measurements of the same voices (the figures agree with scipy computed here) and refuses other voices."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import wilcoxon

from repo_scripts import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("measure_best_of_n")


def test_best_of_n_measured_and_paired_with_an_earlier_measurement(script, tiny_run, small_dexed_store, tmp_path,
                                                                   capsys) -> None:
    run = tiny_run("flow_gen")
    common = ["--data", str(small_dexed_store.path), "--run", str(run), "--n", "1,3", "--items", "4", "--spread"]
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert script.main([*common, "--seed", "0", "--json", str(first)]) == 0
    earlier = json.loads(first.read_text())
    test_rows = small_dexed_store.split_indices("test")
    assert earlier["rows"] == [int(r) for r in script.spread(test_rows, 4)]
    assert earlier["sources"] == [small_dexed_store.sources[r] for r in earlier["rows"]]
    samples = earlier["per_item"][f"{run.name} samples"]
    assert all(b <= a + 1e-9 for a, b in zip(samples["1"]["sc"], samples["3"]["sc"]))  # the best of 3 holds the 1
    assert set(earlier["per_item"]) == {"retrieval", f"{run.name} samples", f"retrieval + {run.name} samples",
                                        f"{run.name} prediction"}
    capsys.readouterr()

    assert script.main([*common, "--seed", "1", "--json", str(second), "--against", str(first)]) == 0
    assert "| method | N | SC A / B |" in capsys.readouterr().out
    paired = {(row["method"], row["n"]): row for row in json.loads(second.read_text())["against"]}
    assert len(paired) == 7  # retrieval, samples and both at N = 1 and 3, the prediction at 1
    later = json.loads(second.read_text())["per_item"]
    a = np.array(later[f"{run.name} samples"]["3"]["sc"])
    b = np.array(samples["3"]["sc"])
    row = paired[(f"{run.name} samples", 3)]["sc"]
    assert row["ratio"] == pytest.approx(a.mean() / b.mean())
    assert row["a_better"] == pytest.approx(np.mean(a < b)) and row["b_better"] == pytest.approx(np.mean(b < a))
    if np.any(a != b):
        assert row["p_value"] == pytest.approx(wilcoxon(a, b).pvalue)

    other_voices = ["--data", str(small_dexed_store.path), "--run", str(run), "--n", "1", "--items", "4"]
    assert script.main([*other_voices, "--against", str(first)]) == 2  # the first 4 test items, not 4 spread ones
    assert "other voices" in capsys.readouterr().err
