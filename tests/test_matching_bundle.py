"""The pretrained matcher's packaging: the recipe (scripts/pretrained_dexed.sh) at a tiny size makes a bundle that
loads and matches, the dexed wheel ships whatever bundle the package folder holds, and the bundle it ships matches
a real recording with no dataset and no training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from patchflow.data.store import open_store
from patchflow.plugins import parse_preset_file
from patchflow.registries import matchers
from patchflow.runtime import load_run
from patchflow.runtime.index import load_index

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()
BUNDLE_FILES = ("config.json", "data.json", "index.npz", "checkpoints/best.pt", "checkpoints/best.json")


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """``scripts/pretrained_dexed.sh`` with 150 voices and one epoch, into a temporary folder."""
    tmp = tmp_path_factory.mktemp("recipe")
    dest = tmp / "pretrained"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "SHARED": str(SHARED), "OUT": str(tmp / "work"), "DEST": str(dest), "LIMIT": "150",
           "MINUTES": "1", "EPOCHS": "1", "WORKERS": "2", "CARD_COUNT": "2", "CARD_BUDGET": "0.2",
           "RECORDINGS": "none", "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "pretrained_dexed.sh")], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=900)
    return tmp, dest, done


def test_the_recipe_makes_a_bundle_that_matches(tiny_bundle) -> None:
    tmp, dest, done = tiny_bundle
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert all((dest / name).is_file() for name in BUNDLE_FILES)
    assert sum((dest / name).stat().st_size for name in BUNDLE_FILES) < 25e6
    config = json.loads((dest / "config.json").read_text())
    data = json.loads((dest / "data.json").read_text())
    assert config["model"]["name"] == "flow_post" and config["preset"] == "cpu" and config["seed"] == 0
    assert config["model"]["classify_steps"] == 64 and config["model"]["recon_weight"] == 0.01
    assert config["model"]["ae_encoder"] == "sequence" and config["beta_max"] == 0.01  # the cpu recipe's
    assert config["cpu_amp"] is False  # float32 whatever the CPU, so a rerun gives the shipped weights
    assert config["time_limit_s"] == 60 and config["data"] == "dx7-16.zarr" and config["out"] == "."
    assert "absolute_path" not in data and data["path"] == "dx7-16.zarr"
    assert str(tmp) not in (dest / "data.json").read_text() and str(SHARED) not in (dest / "data.json").read_text()
    run = load_run(dest)
    index = load_index(run.index_path)
    # the index holds whole voices of the recipe's second store, split as the model's author by author; the test
    # split's authors are kept out of the index as well as out of training (the model card's held-out set)
    store = open_store(tmp / "work" / "dx7-16.zarr")
    whole = open_store(tmp / "work" / "dx7-all.zarr")
    assert len(index.parameters) == len(whole.parameters) == 145 and index.meta["store"] == "dx7-all.zarr"
    authors = {}
    for one in (store, whole):
        folders = [str(Path(s.rsplit("#", 1)[0]).parent) for s in one.sources]
        authors[one] = {folders[r]: int(one.split_codes[r]) for r in np.flatnonzero(one.ok)}
    common = set(authors[store]) & set(authors[whole])
    assert common and all(authors[store][f] == authors[whole][f] for f in common)
    held_out = len(whole.split_indices("test"))
    assert not run.missing_facts and index.meta["split"] == "train+valid" and index.dims == min(128, len(index))
    assert held_out > 0 and len(index) == int(whole.ok.sum()) - held_out
    assert not any(str(SHARED) in s for s in index.sources)
    assert "bundle: " in done.stdout and "Best match: SC" in done.stdout
    assert (tmp / "work" / "smoke" / "match" / "match.syx").is_file()
    card = json.loads((dest / "metrics.json").read_text())
    (held,) = card["sets"].values()
    assert held["summary"]["n"] == 2 and set(held["summary"]["methods"]) == {"mean preset", "retrieval",
                                                                            "retrieval + refinement", "model", "match"}
    assert all(item["rendered_note"] != 60 for item in held["items"]) and "| match / retrieval |" in \
        (tmp / "work" / "card.md").read_text()


def test_the_dexed_wheel_ships_the_bundle(tmp_path: Path) -> None:
    copy = tmp_path / "source"
    shutil.copytree(ROOT / "adapters" / "dexed", copy, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                                   "*.egg-info"))
    folder = copy / "patchflow_dexed" / "pretrained"
    for name in BUNDLE_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"{}" if name.endswith(".json") else b"bundle")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                             "--no-build-isolation", "--wheel-dir", str(tmp_path / "wheel"), str(copy)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"patchflow_dexed/pretrained/{name}" for name in (*BUNDLE_FILES, "README.md")}
    assert expected <= names, sorted(expected - names)


def test_the_shipped_matcher_matches_a_real_recording(tmp_path: Path) -> None:
    """What a user gets from ``pip install ./adapters/dexed``: the committed bundle, a trumpet recording in, a DX7
    voice out, at the recording's pitch (G4)."""
    shipped = matchers()["dexed"].path
    assert all((shipped / name).is_file() for name in BUNDLE_FILES), "make pretrained has not been committed"
    assert sum((shipped / name).stat().st_size for name in BUNDLE_FILES) < 25e6
    assert (shipped / "MODEL_CARD.md").is_file() and (shipped / "metrics.json").is_file()
    out = tmp_path / "m"
    done = subprocess.run([str(Path(sys.executable).parent / "patchflow"), "match",
                           str(ROOT / "examples" / "sounds" / "trumpet-g4.flac"), "--synth", "dexed", "--budget",
                           "0.5", "--workers", "1", "--top", "2", "-o", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "match.json").read_text())
    assert summary["note"] == 67 and summary["target"]["pitch"]["name"] == "G4"
    assert summary["retrieval"].startswith("index (") and 0 < summary["sc"] < 1
    (voice,) = parse_preset_file(out / "match.syx", synth="dexed").presets
    assert voice.name == "MATCH" and len(parse_preset_file(out / "candidates.syx", synth="dexed").presets) == 32
