"""``scripts/regression_flow_contraction.py`` on the tiny ``flow_post`` run: the figures are finite, the
prediction spread is measured against the voices', and the round-trip share agrees with ``latent_of_preset``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repo_scripts import load_script



@pytest.fixture(scope="module")
def script():
    return load_script("regression_flow_contraction")


def test_contraction_figures_of_a_run(script, small_dexed_store, tiny_run, capsys) -> None:
    from patchflow.runtime import load_run
    from patchflow.runtime.inference import INVERSE_FLOW, latent_of_preset

    run_dir = tiny_run("flow_post")
    figures = script.contraction(run_dir, small_dexed_store, 12)
    assert figures["voices"] == min(12, len(small_dexed_store.split_indices("test")))
    assert all(math.isfinite(figures[k]) for k in ("logdet", "spread", "data_spread", "encoder_norm"))
    assert figures["logdet_per_dim"] == pytest.approx(figures["logdet"] / 16)
    assert 0 < figures["data_spread"] < 0.5 and 0 <= figures["round_trip"] <= figures["inverse_finite"] <= 1
    run = load_run(run_dir)
    rows = small_dexed_store.split_indices("test")[:12]
    through = np.mean([latent_of_preset(run, small_dexed_store.preset(int(r)))[1] == INVERSE_FLOW for r in rows])
    assert figures["round_trip"] == pytest.approx(through)
    assert script.main([str(run_dir), "--data", str(small_dexed_store.path), "--count", "5"]) == 0
    out = capsys.readouterr().out
    assert "| round trip |" in out and f"| {run_dir} |" in out
