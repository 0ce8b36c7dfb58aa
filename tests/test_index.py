"""The retrieval index: distinct voices, save and load, search, agreement with full log-mel retrieval, refusals, and
`patchflow index build` making a run match without its store."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from patchflow import get_synth
from patchflow.cli import app
from patchflow.runtime import load_run
from patchflow.runtime.index import IndexFileError, build_index, index_rows, load_index
from patchflow.runtime.retrieval import MelRetrieval

runner = CliRunner()


@pytest.fixture(scope="module")
def index(small_dexed_store):
    return build_index(small_dexed_store, dims=64)


def mels(store, rows) -> np.ndarray:
    return np.asarray(store.mel.get_orthogonal_selection((rows, slice(None), slice(None))), dtype=np.float32)


def test_it_holds_the_distinct_training_voices(index, small_dexed_store) -> None:
    store = small_dexed_store
    train = store.split_indices("train")
    native = np.asarray(store.array("native")[:])[train]
    assert len(index) == len(np.unique(native, axis=0)) and set(index.rows) <= set(train)
    assert list(index.rows) == sorted(index.rows)
    assert index.names == [store.names[r] for r in index.rows]
    assert index.params == pytest.approx(np.asarray(store.array("params")[:])[index.rows])
    assert not any(s.startswith("/") for s in index.sources)  # relative to the store's input folder
    assert index.sources[0] == store.sources[index.rows[0]].split("/dx7/", 1)[1]
    assert index.dims == 64 and 0.8 < index.meta["explained_variance"] <= 1.0
    assert index.meta["base_preset"]["name"] == store.base_preset.name and index.meta["reference_peak"] > 0
    everything = index_rows(store, "all")
    assert len(everything) == len(np.unique(np.asarray(store.array("native")[:])[store.ok], axis=0))


def test_save_and_load_give_the_same_index(index, tmp_path: Path) -> None:
    path = index.save(tmp_path / "index.npz")
    again = load_index(path)
    for name in ("embedding", "components", "mean", "params", "rows"):
        assert np.array_equal(getattr(again, name), getattr(index, name)), name
    assert again.names == index.names and again.sources == index.sources
    assert {k: v for k, v in again.meta.items() if k != "path"} == index.meta
    assert path.stat().st_size < 2.5e6 and (path.stat().st_mode & 0o044)  # readable like any file
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_voice_finds_itself_and_retrieval_agrees_with_full_log_mels(index, small_dexed_store) -> None:
    store = small_dexed_store
    own = mels(store, index.rows[:20])
    positions, distances = index.search(own, k=3)
    assert list(positions[:, 0]) == list(range(20)) and np.all(distances[:, 0] < 1e-2 * distances[:, 1].mean())
    assert np.all(np.diff(distances, axis=1) >= 0)
    queries = store.split_indices("test")
    full = MelRetrieval(store.normalise_mel(mels(store, index.rows)), index.params)
    expected, _ = full.search(store.normalise_mel(mels(store, queries)), k=1)
    found, _ = index.search(mels(store, queries), k=8)
    within = np.mean([expected[i, 0] in found[i] for i in range(len(queries))])
    assert within >= 0.9, within  # the full log-mel's nearest voice is among the 8 the match renders


def test_it_refuses_what_does_not_fit(index, tmp_path: Path, tiny_run) -> None:
    run = load_run(tiny_run("mlp"))
    features = run.feature_settings.to_json()
    index.check_fits(run.synth_id, run.parameters, features, (128, 87))
    with pytest.raises(IndexFileError, match="indexes dexed voices; the run is for diva"):
        index.check_fits("diva", run.parameters, features)
    fewer = run.parameters.subset(run.parameters.names[:3])
    index.check_fits("dexed", fewer, features)  # an index of more parameters than a run learns: whole voices
    assert index.is_voice_space(fewer) and not index.is_voice_space(run.parameters)
    every = get_synth("dexed").parameters
    other = every.subset([n for n in every.names if n not in index.parameters][:2] + run.parameters.names[:2])
    with pytest.raises(IndexFileError, match="other parameters than the run learns"):
        index.check_fits("dexed", other, features)
    with pytest.raises(IndexFileError, match="other feature settings"):
        index.check_fits("dexed", run.parameters, {**features, "n_mels": 64})
    with pytest.raises(IndexFileError, match="query log-mels of shape"):
        index.embed(np.zeros((1, 64, 87)))
    garbage = tmp_path / "index.npz"
    garbage.write_bytes(b"PK not really a zip")
    with pytest.raises(IndexFileError, match="not a patchflow retrieval index"):
        load_index(garbage)
    with pytest.raises(IndexFileError, match="no such index"):
        load_index(tmp_path / "missing.npz")
    with pytest.raises(IndexFileError, match="unknown split"):
        index_rows(None, "test")


def test_the_same_store_gives_the_same_index(index, small_dexed_store) -> None:
    again = build_index(small_dexed_store, dims=64)
    assert np.array_equal(again.embedding, index.embedding) and np.array_equal(again.components, index.components)


def test_index_build_lets_a_run_match_without_its_store(tiny_run, small_dexed_store, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run("flow_post"), run_dir)
    result = runner.invoke(app, ["index", "build", str(run_dir), "--data", str(small_dexed_store.path),
                                 "--dims", "48", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"wrote {run_dir / 'index.npz'}" in " ".join(result.output.split())
    data = json.loads((run_dir / "data.json").read_text())
    data["path"] = data["absolute_path"] = str(tmp_path / "moved-away.zarr")
    (run_dir / "data.json").write_text(json.dumps(data))
    sound = tmp_path / "voice.wav"
    exported = runner.invoke(app, ["dataset", "export-audio", str(small_dexed_store.path), "-o", str(sound)])
    assert exported.exit_code == 0, exported.output
    out = tmp_path / "m"
    matched = runner.invoke(app, ["match", str(run_dir), str(sound), "-o", str(out), "--budget", "0",
                                  "--workers", "1", "--no-progress"])
    assert matched.exit_code == 0, matched.output
    assert "+ retrieval" in matched.output and "warning" not in matched.output
    summary = json.loads((out / "match.json").read_text())
    assert summary["retrieval"].startswith("index (") and len(summary["retrieved"]) == 32
    refused = runner.invoke(app, ["index", "build", str(run_dir), "--no-progress"])  # its store moved away
    assert refused.exit_code == 1 and "give it with --data" in " ".join(refused.output.split())
    bad_split = runner.invoke(app, ["index", "build", str(run_dir), "--data", str(small_dexed_store.path), "--split",
                                    "test", "--no-progress"])
    assert bad_split.exit_code == 1 and "unknown split 'test'" in bad_split.output


def test_an_index_of_whole_voices_matches_whole_voices(tiny_run, dx7_dir: Path, tmp_path: Path) -> None:
    """A run of 16 parameters with an index of a store of every parameter: retrieval and search run over whole
    voices, so a voice of the index is found as itself (not projected on the 16 over the base preset), and the
    written preset is that voice."""
    from patchflow.apps.matching import match_sound, search_space, write_match
    from patchflow.data.build import BuildOptions, build_store
    from patchflow.data.render import SynthPool
    from patchflow.preset_files import parse_preset_file
    from patchflow.runtime.rendering import presets_from_normalised

    run = load_run(tiny_run("flow_post"))
    folders = ("Original Yamaha/DX7 ROM1", "Bo Tomlyn", "Christopher Pardy (Pat)")  # some of the small store's
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the corpus given by a relative path, as `make pretrained` gives ../shared
    try:
        whole = build_store("dexed", [Path(os.path.relpath(dx7_dir / f)) for f in folders], tmp_path / "whole.zarr",
                            BuildOptions(params="all", limit=120, seed=0, split="grouped"), workers=2)
    finally:
        os.chdir(cwd)
    voices = build_index(whole, split="all", dims=32)
    assert whole.sources[0].startswith("..") and not any(s.startswith("..") for s in voices.sources)
    assert voices.sources[0].split("/")[0] in {f.split("/")[0] for f in folders}
    assert not voices.meta["base_preset"]["source"]["path"].startswith("..")
    voices.check_fits(run.synth_id, run.parameters, run.feature_settings.to_json(), (128, 87))
    space = search_space(run, voices)
    assert len(space) == len(whole.parameters) > len(run.parameters)
    base = run.base_preset
    # a voice far from the base outside the run's 16 parameters
    others = [i for i in range(len(space)) if space.names[i] not in run.parameters]
    base_values = space.to_normalised(base.vector(space)[None])[0]
    row = int(np.argmax(np.abs(voices.params[:, others] - base_values[others]).sum(axis=1)))
    voice = presets_from_normalised(base, space, voices.params[row][None])[0]
    with SynthPool(run.synth_id, 1) as pool:
        target = pool.render([voice], run.render_settings)[0]
    result = match_sound(run, target, index=voices, note=run.render_settings.note, budget_seconds=0.3,
                         latent_count=4, workers=1)
    assert result.parameters.names == space.names and result.best.distance < 1e-3, result.best
    assert result.best.origin == "retrieval"
    projected = match_sound(run, target, index=None, store=None, note=run.render_settings.note, budget_seconds=0,
                            latent_count=4, workers=1)  # the run's 16 parameters over the base: not that voice
    assert projected.parameters.names == run.parameters.names and projected.best.distance > 0.05
    written = write_match(result, run, None, tmp_path / "m")
    again = parse_preset_file(written["files"]["preset"], synth="dexed").presets[0]
    assert np.array_equal(again.vector(space), voice.vector(space))
