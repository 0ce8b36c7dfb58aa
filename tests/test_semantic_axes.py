"""scripts/semantic_axes.py at a tiny size: a store tagged from the real DX7 corpus's folders, a flow_dis run of a
few batches, and the report of every tag pair (listener accuracy, shares of the moved renders)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from repo_scripts import load_script

PARAMS = ["op1_output_level", "op2_output_level", "op2_frequency_coarse", "op1_frequency_coarse", "algorithm",
          "feedback", "op1_env_level3", "op1_env_rate2"]
MAPPING = """
[[pair]]
name = "Percussive/Sustained"
Percussive = ["Percussion/*", "Plucked/*", "Keyboard/Piano/*", "Keyboard/Clavinet/*"]
Sustained = ["Brass/*", "Woodwind/*", "Keyboard/Organ/*", "Strings/*", "Voice/*"]

[[pair]]
name = "Keys/Misc"
Keys = ["Keyboard/*"]
Misc = ["Misc/*", "Effects/*"]
"""


def _script():
    return load_script("semantic_axes")


@pytest.fixture(scope="module")
def folder_tagged_run(dx7_dir: Path, tiny_run_overrides: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from patchflow.data.build import BuildOptions, build_store
    from patchflow.training import make_config, train

    root = tmp_path_factory.mktemp("semantic")
    (root / "params.txt").write_text("\n".join(PARAMS) + "\n")
    (root / "families.toml").write_text(MAPPING)
    store = build_store("dexed", [dx7_dir / "!Instruments"], root / "store.zarr",
                        BuildOptions(params=str(root / "params.txt"), limit=320, seed=0, split="grouped",
                                     tags=root / "families.toml"), workers=2)
    assert store.tag_pairs == ["Keys/Misc", "Percussive/Sustained"]
    return train(make_config(store.path, root / "run", "flow_dis", preset="small", overrides=tiny_run_overrides))


def test_the_report_has_a_row_per_tag_pair_with_shares_and_a_validated_listener(folder_tagged_run: Path,
                                                                               tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "axes.json", tmp_path / "axes.md"
    report = _script().main(["--run", str(folder_tagged_run), "--presets", "24", "--workers", "2",
                             "--json", str(out_json), "--markdown", str(out_md)])
    assert [p["pair"] for p in report["pairs"]] == ["Keys/Misc", "Percussive/Sustained"]
    assert report["span"] == 2.0 and report["presets"] == 24 and report["encoded_by"] == "encoder (stored log-mel)"
    assert 0.0 <= report["roundtrip"]["exact_share"] <= 1.0 and math.isfinite(report["roundtrip"]["median_max_abs_z"])
    for entry in report["pairs"]:
        for key in ("plus_is_positive", "minus_is_negative", "own_is_positive", "plus_above_minus"):
            item = entry[key]
            assert item["n"] == 24 and 0.0 <= item["share"] <= 1.0, (key, item)
            low, high = item["ci"]
            assert 0.0 <= low <= item["share"] <= high <= 1.0, (key, item)
        clf = entry["classifier"]
        assert clf["counts"]["train"]["positive"] > 0 and clf["counts"]["train"]["negative"] > 0
        assert 0.0 <= clf["test_balanced_accuracy"] <= 1.0 and 0.0 <= clf["test_accuracy"] <= 1.0
        assert math.isfinite(clf["test_majority_share"]) and entry["verdict"]
        assert entry["latent"]["n"] == clf["counts"]["test"]["positive"] + clf["counts"]["test"]["negative"]
        assert 0.0 <= entry["latent"]["balanced_accuracy"] <= 1.0
    saved = json.loads(out_json.read_text())
    assert [p["pair"] for p in saved["pairs"]] == ["Keys/Misc", "Percussive/Sustained"]
    table = out_md.read_text().splitlines()
    assert table[0].startswith("| pair") and sum(line.startswith("| Keys/Misc") for line in table) == 1
    assert sum(line.startswith("| Percussive/Sustained") for line in table) == 1


def test_presets_can_be_encoded_through_the_inverse_flow(folder_tagged_run: Path) -> None:
    report = _script().main(["--run", str(folder_tagged_run), "--encode", "params", "--presets", "6",
                             "--workers", "2"])
    assert report["encoded_by"] == "inverse flow" and len(report["pairs"]) == 2
    assert all(0.0 <= e["plus_above_minus"]["share"] <= 1.0 for e in report["pairs"])


def test_a_run_without_tag_pairs_is_refused(tiny_run) -> None:
    with pytest.raises(SystemExit, match="not a flow_dis run"):
        _script().main(["--run", str(tiny_run("flow_post")), "--presets", "4"])


def test_the_studio_knobs_of_a_flow_dis_run_move_its_tag_axes(folder_tagged_run: Path) -> None:
    """The studio ranks a tagged flow_dis run's tag axes, so its knobs set codes of the disentangled space: the
    values shown are the preset's coordinates there, and setting one moves along that axis, not along the latent
    dimension of the same index."""
    import numpy as np
    import torch

    pytest.importorskip("starlette", reason="the studio extra is not installed (make setup installs it)")
    from patchflow.apps.macro import latent_from_semantic, semantic_from_latent
    from patchflow.data.store import open_store
    from patchflow.runtime import load_run
    from patchflow.runtime.inference import latent_of_preset
    from patchflow.studio.server import Sound, Studio

    run = load_run(folder_tagged_run)
    store = open_store(run.store_path)
    preset = store.preset(int(store.split_indices("test")[0]))
    studio = Studio(run, budget=0.0, top=1, workers=1)
    key = studio.add(Sound(store.audio(int(store.split_indices("test")[0])), run.render_settings.sample_rate,
                           preset=preset, name=preset.name))
    shown = studio.macro(key, studio.sounds[key])
    assert {d["space"] for d in shown["dimensions"]} == {"semantic"}
    assert [d["label"] for d in shown["dimensions"]] and len(shown["dimensions"]) == len(run.tag_pairs)
    z, how = latent_of_preset(run, preset)
    with torch.no_grad():
        s = semantic_from_latent(run.model, z)
        moved = s.clone()
        moved[0, 0] += 2.0
        expected = latent_from_semantic(run.model, moved)
    by_dim = {d["dim"]: d["value"] for d in shown["dimensions"]}
    assert by_dim[0] == pytest.approx(float(s[0, 0]), abs=1e-5)
    rendered = studio.macro_render(key, studio.sounds[key], {0: by_dim[0] + 2.0})
    new = studio.sounds[rendered["id"]].preset
    from patchflow.runtime.inference import INVERSE_FLOW, params_from_latent

    want = run.parameters.to_native(params_from_latent(run, expected, classify=how != INVERSE_FLOW))[0]
    assert np.array_equal(new.vector(run.parameters), want)
