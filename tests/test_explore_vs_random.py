"""``scripts/explore_vs_random.py`` at a tiny size: explore around a few held-out presets of the small store with
the tiny ``flow_post`` run, and the report holds finite means, intervals, a win share and a Wilcoxon p-value."""

from __future__ import annotations

import json
import math

import pytest

from repo_scripts import load_script



@pytest.fixture(scope="module")
def script():
    return load_script("explore_vs_random")


def test_report_on_held_out_presets(script, small_dexed_store, tiny_run, tmp_path, capsys):
    report = tmp_path / "report.json"
    assert script.main(["--data", str(small_dexed_store.path), "--run", str(tiny_run("flow_post")), "--items", "4",
                        "--count", "3", "--radius", "0.5,2", "--json", str(report)]) == 0
    table = capsys.readouterr().out
    assert "| radius |" in table and "Wilcoxon p" in table
    saved = json.loads(report.read_text())
    assert [r["summary"]["radius"] for r in saved["results"]] == [0.5, 2.0]
    for result in saved["results"]:
        s = result["summary"]
        assert s["presets"] == 4 and len(result["per_preset"]) == 4
        assert s["paired_presets"] >= 2
        for key in ("neighbour_sc", "random_sc", "difference", "param_distance"):
            cell = s[key]
            assert all(math.isfinite(cell[k]) for k in ("mean", "ci_low", "ci_high")), (key, cell)
            assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"], (key, cell)
        assert 0 <= s["explore_wins"] <= 1 and 0 <= s["random_wins"] <= 1
        assert math.isfinite(s["p_value"]) and 0 < s["p_value"] <= 1
        assert 0 <= s["distinct"]["min"] <= s["distinct"]["mean"] <= s["distinct"]["max"] <= 3


def test_explore_encodes_the_sound_when_the_inverse_flow_fails(small_dexed_store, tiny_run, monkeypatch):
    """A regression flow whose inverse gives a code that does not decode back to the preset (trained runs of the
    ``cpu`` recipe: norms near 1e17, every sample the same corner preset) is not used: explore encodes the
    preset's rendering (runtime.inference.latent_of_preset checks the round trip), and the neighbours are
    distinct; interpolation then takes both ends from the encoder."""
    import numpy as np
    import torch

    from patchflow.apps import explore as module
    from patchflow.runtime import inference, load_run

    run = load_run(tiny_run("flow_post"))
    preset = small_dexed_store.preset(int(small_dexed_store.split_indices("test")[0]))
    healthy = module.explore(run, preset, radius=0.5, count=4)
    assert healthy.encoded_by == module.INVERSE_FLOW
    broken = torch.full((1, len(run.parameters)), 1e17)
    monkeypatch.setattr(run.model, "latent_from_params", lambda v: broken)
    result = module.explore(run, preset, radius=0.5, count=4)
    assert result.encoded_by == inference.BROKEN_INVERSE
    assert len(result.params) >= 2 and np.all(np.isfinite(result.audio_distance))
    other = small_dexed_store.preset(int(small_dexed_store.split_indices("test")[1]))
    path = module.interpolate(run, preset, other, steps=3)
    assert path.latent_params.shape == (3, len(run.parameters)) and np.all(np.isfinite(path.latent_params))
