"""``scripts/neighbour_correction.py``: an untrained corrector answers with the neighbour, training pairs come from
other groups and never pair a preset with itself, and the script runs end to end on a real store."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from repo_scripts import load_script



@pytest.fixture(scope="module")
def script():
    return load_script("neighbour_correction")


def test_an_untrained_corrector_keeps_the_neighbours_answer(script) -> None:
    torch.manual_seed(0)
    cards = [32, 100, 4]
    model = script.Corrector(cards, width=8).eval()
    neighbour = torch.stack([torch.randint(0, n, (5,)) for n in cards], dim=1)
    with torch.no_grad():
        logits = model(torch.randn(5, 128, 20), torch.randn(5, 128, 20), neighbour)
    assert torch.equal(torch.stack([lg.argmax(dim=1) for lg in logits], dim=1), neighbour)


def test_training_pairs_come_from_other_groups_first(script) -> None:
    keys = torch.tensor([[0.0], [0.1], [5.0], [5.1], [9.0]])
    groups = np.array(["a", "a", "b", "b", "c"])
    pairs = script.nearest_other_group(keys, groups, k=2)
    assert pairs.shape == (5, 2)
    for row, (first, second) in enumerate(pairs):
        assert groups[first] != groups[row] and row not in (first, second)
    assert pairs[0, 0] == 2 and pairs[4, 0] == 3  # the nearest of another group
    lone = script.nearest_other_group(keys[:2], groups[:2], k=3)  # one group only: the other row, never itself
    assert lone.tolist() == [[1], [0]]


def test_the_script_runs_on_a_real_store(script, small_dexed_store, tmp_path) -> None:
    out = tmp_path / "figures.json"
    assert script.main(["--data", str(small_dexed_store.path), "--train-seconds", "2", "--items", "6",
                        "--threads", "1", "--batch-size", "16", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["test_items"] == min(6, len(small_dexed_store.split_indices("test"))) and figures["epochs"] >= 1
    for answer in ("retrieval", "corrected"):
        assert all(math.isfinite(v) for v in figures[answer]["sc"] + figures[answer]["mss"])
    assert 0.0 <= figures["changed"] <= 1.0 and "p_value" in figures["paired_sc"]
