"""``scripts/compare_reports.py``: a row of one real evaluation report against a row of another, on the same items
(the figures agree with numpy and scipy computed here), and clear refusals of reports that cannot be paired."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import wilcoxon
from typer.testing import CliRunner

from patchflow.cli import app

from repo_scripts import load_script

ROW = "Retrieval + refinement"


@pytest.fixture(scope="module")
def script():
    return load_script("compare_reports")


def _evaluate(run, store_path, out, items: int, neighbours: int):
    result = CliRunner().invoke(app, ["evaluate", str(run), "--data", str(store_path), "--out", str(out),
                                      "--max-items", str(items), "--examples", "0", "--refine-budget", "0.05",
                                      "--neighbours", str(neighbours), "--latent-samples", "0"])
    assert result.exit_code == 0, result.output
    return out


def _scores(report, metric: str) -> np.ndarray:
    return np.array(json.loads((report / "results.json").read_text())["per_item"][ROW]["test"][metric], dtype=float)


@pytest.fixture(scope="module")
def reports(tiny_run, small_dexed_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    run = tiny_run("mlp")
    return tuple(_evaluate(run, small_dexed_store.path, root / name, items, neighbours)
                 for name, items, neighbours in (("one", 5, 1), ("four", 5, 4), ("fewer", 3, 1)))


def test_two_reports_compared_item_by_item(script, reports, tmp_path, capsys) -> None:
    one, four, _ = reports
    out = tmp_path / "comparison.json"
    assert script.main([str(four), ROW, str(one / "results.json"), ROW, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.startswith(f"| metric | A: {ROW} | B: {ROW} |") and "| sc |" in table and "| mss |" in table
    metrics = {m["metric"]: m for m in json.loads(out.read_text())["metrics"]}
    a, b = _scores(four, "sc"), _scores(one, "sc")
    sc = metrics["sc"]
    assert sc["a"]["mean"] == pytest.approx(a.mean()) and sc["b"]["mean"] == pytest.approx(b.mean())
    assert sc["ratio"] == pytest.approx(a.mean() / b.mean())
    assert sc["a_better"] == pytest.approx(np.mean(a < b)) and sc["b_better"] == pytest.approx(np.mean(b < a))
    if np.any(a != b):
        assert sc["p_value"] == pytest.approx(wilcoxon(a, b).pvalue)
    assert sc["a"]["ci"][0] <= sc["a"]["mean"] <= sc["a"]["ci"][1]
    # env_cos is higher-is-better: "A better" counts the items where A is higher
    cos_a, cos_b = _scores(four, "env_cos"), _scores(one, "env_cos")
    assert metrics["env_cos"]["a_better"] == pytest.approx(np.mean(cos_a > cos_b))


def test_reports_that_cannot_be_paired_are_refused(script, reports, tmp_path, capsys) -> None:
    one, four, fewer = reports
    assert script.main([str(four), ROW, str(fewer), ROW]) == 2
    assert "other items" in capsys.readouterr().err
    assert script.main([str(four), "no such row", str(one), ROW]) == 2
    assert "no row 'no such row'" in capsys.readouterr().err
    assert script.main([str(four), ROW, str(one), ROW, "--domain", "elsewhere"]) == 2
    assert "no domain 'elsewhere'" in capsys.readouterr().err
    assert script.main([str(tmp_path / "missing"), ROW, str(one), ROW]) == 2
    assert "no such report" in capsys.readouterr().err


def test_reports_of_two_stores_pair_only_when_their_items_are_the_same_voices(
        script, reports, tiny_run, small_dexed_store, tmp_path, capsys) -> None:
    import shutil

    import zarr

    one = reports[0]
    copy = tmp_path / "copy.zarr"  # the same voices in another store, as a rebuild with other synthetic presets
    shutil.copytree(small_dexed_store.path, copy)
    other = _evaluate(tiny_run("mlp"), copy, tmp_path / "other", 5, 1)
    assert script.main([str(other), ROW, str(one), ROW]) == 2
    assert "other stores" in capsys.readouterr().err
    assert script.main([str(other), ROW, str(one), ROW, "--other-stores"]) == 0
    assert "| sc |" in capsys.readouterr().out
    assert script.main([str(other), ROW, str(one), ROW, "--other-stores", "--domain", "ood"]) == 2
    assert "test items only" in capsys.readouterr().err

    group = zarr.open_group(str(copy), mode="r+")  # now the copy holds other voices at the same rows
    group["sources"][:] = group["sources"][:][::-1]
    assert script.main([str(other), ROW, str(one), ROW, "--other-stores"]) == 2
    assert "other voices" in capsys.readouterr().err
