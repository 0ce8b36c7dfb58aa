"""``scripts/translation_ood.py`` at a tiny size: both translation models trained for a second on the tone domains,
two square tones matched with and without ``--translate`` by a tiny matcher; and the time limit of
``translate train`` that the script relies on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from patchflow.models.unit import UnitConfig
from patchflow.training.translation import TranslationTrainConfig, train_translation

from repo_scripts import load_script

#: The UMT size of tests/test_umt.py.
TINY_UMT = {"clip_samples": 1000, "encoder_blocks": 1, "encoder_layers": 6, "encoder_channels": 16,
            "latent_channels": 8, "pool": 100, "decoder_blocks": 1, "decoder_layers": 7, "residual_channels": 16,
            "skip_channels": 32, "classifier_channels": 16}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _script():
    return load_script("translation_ood")


def test_a_time_limit_stops_training_with_a_checkpoint_and_a_rerun_continues(tone_domains, tmp_path) -> None:
    a, b = tone_domains
    config = TranslationTrainConfig(steps=10**6, batch_size=2, checkpoint_every=10**6, max_seconds=0.5,
                                    model=UnitConfig(channels=4, latent_channels=4, disc_channels=4))
    first = train_translation(a, b, tmp_path / "run", config)
    assert 1 <= first["step"] < 10**6
    info = json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text())
    assert info["step"] == first["step"]
    again = train_translation(a, b, tmp_path / "run", config)
    assert again["resumed_from"] == first["step"] and again["step"] > first["step"]


def test_the_script_reports_match_with_and_without_translation(tone_domains, small_dexed_store, tiny_run,
                                                               tmp_path) -> None:
    a, b = tone_domains
    umt = tmp_path / "umt.json"
    umt.write_text(json.dumps(TINY_UMT))
    out_json, out_md = tmp_path / "ood.json", tmp_path / "ood.md"
    code = _script().main([
        "--bundle", str(tiny_run("mlp")), "--recordings", str(Path(a).parent / "square"), "--a", str(a),
        "--b", str(b), "--data", str(small_dexed_store.path), "--work", str(tmp_path / "runs"),
        "--umt-config", str(umt), "--train-seconds", "1", "--per-group", "2", "--budget", "0", "--neighbours", "2",
        "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    report = json.loads(out_json.read_text())
    conditions = ["match", "match --translate unit", "match --translate umt"]
    assert len(report["items"]) == 2 and all(item["group"] == "square" for item in report["items"])
    assert all(list(item["scores"]) == conditions for item in report["items"])
    assert all(math.isfinite(item["scores"][c][m]) and item["scores"][c][m] >= 0
               for item in report["items"] for c in conditions for m in ("sc", "mss"))
    assert all(report["training"][n]["steps"] >= 1 for n in ("unit", "umt"))
    summary = report["summary"]
    for c in conditions:
        for m in ("sc", "mss"):
            values = summary["conditions"][c][m]
            assert values["ci_low"] <= values["mean"] <= values["ci_high"] and values["n"] == 2
    versus = summary["versus_plain"]["match --translate umt"]["sc"]
    plain_sc = [item["scores"]["match"]["sc"] for item in report["items"]]
    umt_sc = [item["scores"]["match --translate umt"]["sc"] for item in report["items"]]
    assert versus["ratio"] == pytest.approx(sum(umt_sc) / sum(plain_sc))
    table = out_md.read_text()
    assert "| match --translate unit / match |" in table and "- square (2):" in table
    assert (tmp_path / "runs" / "unit" / "translation.json").is_file()
