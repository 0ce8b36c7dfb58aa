"""The applications on tiny runs of the small real Dexed store: match a rendered sound, macro-controls,
exploration and interpolation; every file they promise is written and reads back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import patchflow
from patchflow.apps.common import ApplicationError, load_preset
from patchflow.apps.explore import explore, interpolate, write_exploration, write_interpolation
from patchflow.apps.macro import audio_descriptors, tag_label, traverse, write_macros
from patchflow.apps.matching import AudioFileError, load_target
from patchflow.audio import write_wav
from patchflow.cli import app
from patchflow.runtime import load_run

LATENT_MODEL, BASELINE = "flow_post", "mlp"
BANK = "Original Yamaha/DX7 ROM1"


@pytest.fixture(scope="module")
def latent_run(tiny_run):
    return load_run(tiny_run(LATENT_MODEL))


@pytest.fixture(scope="module")
def rom1(dx7_dir):
    files = sorted((dx7_dir / BANK).glob("*.syx"))
    assert files, f"no cartridge in {dx7_dir / BANK}"
    return files[0]


def test_match_a_rendered_test_sound(tiny_run, small_dexed_store, tmp_path):
    store = small_dexed_store
    row = int(store.split_indices("test")[1])
    sound = tmp_path / "target.wav"
    with pytest.warns(UserWarning, match="scaled"):  # Dexed peaks above 1: the file is scaled, not clipped
        write_wav(sound, store.audio(row) * 4, store.render_settings.sample_rate)
    out = tmp_path / "match"
    result = CliRunner().invoke(app, ["match", str(tiny_run(LATENT_MODEL)), str(sound), "--out", str(out),
                                      "--top", "2", "--budget", "0.5", "--latent-samples", "4",
                                      "--neighbours", "3", "--workers", "2"])
    assert result.exit_code == 0, result.output
    for stage in ("model", "+ latent samples", "+ retrieval", "+ refinement"):
        assert stage in result.output
    summary = json.loads((out / "match.json").read_text())
    metric = summary["metric"]
    assert metric == "sc+db"  # the default: SC plus the dB distance
    distances = [s[metric] for s in summary["stages"]]
    assert distances == sorted(distances, reverse=True)  # every stage keeps the best so far
    assert summary["candidates"][0][metric] == pytest.approx(distances[-1])
    parsed = patchflow.parse_preset_file(out / "match.syx")
    assert [p.name for p in parsed.presets] == ["MATCH"] and not parsed.problems
    bank = patchflow.parse_preset_file(out / "candidates.syx").presets  # a DX7 bank: padded to 32 voices
    assert [p.name for p in bank[:3]] == ["MATCH", "MATCH 2", "INIT VOICE"]
    assert sorted(p.name for p in out.glob("rank-*.wav")) == ["rank-1.wav", "rank-2.wav"]
    assert soundfile.read(out / "rank-1.wav")[0] == pytest.approx(soundfile.read(out / "match.wav")[0])
    preset = parsed.presets[0]
    table = store.parameters
    assert table.to_normalised(preset.vector(table)) == pytest.approx(
        table.to_normalised(np.array([summary["candidates"][0]["values"][n] for n in table.names])))
    audio = patchflow.get_synth("dexed").render(preset, store.render_settings)
    assert np.abs(audio).max() > 1e-3
    written, rate = soundfile.read(out / "match.wav")
    assert rate == store.render_settings.sample_rate and len(written) == store.render_settings.num_samples
    assert (out / "match.png").stat().st_size > 1000
    assert summary["note"] in summary["notes_tried"] and summary["velocity"] == store.render_settings.velocity
    assert "lower is better" in " ".join(result.output.split())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_unreadable_sounds_are_reported(tmp_path):
    with pytest.raises(AudioFileError, match="no such audio file"):
        load_target(tmp_path / "missing.wav", 22050, 1000)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    with pytest.raises(AudioFileError, match="notes.wav"):
        load_target(text, 22050, 1000)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(2205, dtype=np.float32), 22050)
    with pytest.raises(AudioFileError, match="silent"):
        load_target(silent, 22050, 1000)


def test_load_target_resamples_and_pads(tmp_path):
    path = tmp_path / "tone.wav"
    t = np.arange(8000) / 16000
    soundfile.write(path, 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32), 16000)
    audio = load_target(path, 22050, 22050)
    assert audio.shape == (22050,) and np.all(audio[11100:] == 0) and np.abs(audio[:11000]).max() > 0.4
    reference = np.sin(2 * np.pi * 440 * np.arange(11025) / 22050)  # resampled as librosa.load does (soxr HQ)
    assert np.abs(audio[200:10800] - 0.5 * reference[200:10800]).max() < 1e-2


def test_macro_controls(latent_run, small_dexed_store, tmp_path):
    traversals = traverse(latent_run, [0, 1, 2], steps=3, workers=2, base_preset=small_dexed_store.base_preset)
    variances = [t.audio_variance for t in traversals]
    assert variances == sorted(variances, reverse=True)
    assert sorted(t.dim for t in traversals) == [0, 1, 2]
    first = traversals[0]
    assert first.params.shape == (3, len(latent_run.parameters))
    assert [r for _, r in first.moving] == sorted((r for _, r in first.moving), reverse=True)
    summary = write_macros(traversals, latent_run, tmp_path / "macros", top=4)
    assert [item["dim"] for item in summary["ranking"]] == [t.dim for t in traversals]
    for t in traversals:
        assert (tmp_path / "macros" / f"dim-{t.dim:02d}.png").is_file()
        clip, _ = soundfile.read(tmp_path / "macros" / f"dim-{t.dim:02d}.wav")
        assert len(clip) > 3 * latent_run.render_settings.num_samples
    saved = json.loads((tmp_path / "macros" / "macro.json").read_text())
    assert len(saved["dimensions"]["z0"]["descriptors"]["centroid_hz"]) == 3
    with pytest.raises(ApplicationError, match="out of range"):
        traverse(latent_run, [999])


def test_semantic_macro_labels_the_tag_pair_dimensions_of_a_flow_dis_run(tagged_dexed_store, tiny_run_overrides,
                                                                           tmp_path):
    """On a flow_dis run, `patchflow macro` traverses the tag-pair dimension and names it after its pair."""
    from patchflow.training import make_config, train

    run_dir = train(make_config(tagged_dexed_store, tmp_path / "flow_dis", "flow_dis", preset="small",
                                overrides=tiny_run_overrides))
    out = tmp_path / "macros"
    result = CliRunner().invoke(app, ["macro", str(run_dir), "--steps", "3", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "macro.json").read_text())
    assert [item["label"] for item in saved["ranking"]] == ["Dark -> Bright"]
    assert "Dark -> Bright" in result.output
    latent = CliRunner().invoke(app, ["macro", str(run_dir), "--latent", "--dims", "0", "--steps", "3",
                                      "--workers", "2", "--out", str(tmp_path / "raw")])
    assert latent.exit_code == 0, latent.output
    assert json.loads((tmp_path / "raw" / "macro.json").read_text())["ranking"][0]["label"] == "z0"


def test_macro_needs_a_latent_model(tiny_run):
    with pytest.raises(ApplicationError, match="latent space"):
        traverse(load_run(tiny_run(BASELINE)))


def test_audio_descriptors_by_construction():
    rate = 22050
    t = np.arange(rate) / rate
    low, high = np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 3000 * t)
    d = audio_descriptors(np.stack([low, 0.1 * low, high]), rate)
    assert d["loudness_db"][0] - d["loudness_db"][1] == pytest.approx(20.0, abs=1e-6)
    assert d["centroid_hz"][0] < 400 < 2500 < d["centroid_hz"][2]
    assert tag_label("Bright/Dark") == "Dark -> Bright"


def test_explore_writes_neighbours_that_read_back(latent_run, rom1, tmp_path):
    preset = load_preset(f"{rom1}#3", "dexed")
    result = explore(latent_run, preset, radius=0.5, count=4, workers=2)
    assert result.encoded_by == "inverse flow"
    assert result.params.shape == (4, len(latent_run.parameters))
    assert np.all(result.param_distance > 0) and np.all(np.isfinite(result.audio_distance))
    summary = write_exploration(result, latent_run, tmp_path / "explore")
    neighbours = patchflow.parse_preset_file(tmp_path / "explore" / "neighbours.syx").presets[:4]
    assert [p.name for p in neighbours] == [f"{preset.name[:7]} {k}" for k in range(1, 5)]
    table = latent_run.parameters
    np.testing.assert_allclose(table.to_normalised(np.stack([p.vector(table) for p in neighbours])),
                               table.to_normalised(table.to_native(result.params)))
    assert len(summary["neighbours"]) == 4 and (tmp_path / "explore" / "neighbour-04.wav").is_file()


def test_inverse_flow_round_trips_a_preset(latent_run, rom1):
    """Flow_reg is invertible: decoding the code of a preset's parameters gives those parameters back."""
    import torch

    from patchflow.runtime.inference import latent_of_preset, params_from_latent

    preset = load_preset(rom1, "dexed", 5)
    z, how = latent_of_preset(latent_run, preset)
    table = latent_run.parameters
    target = table.to_normalised(preset.vector(table))
    np.testing.assert_allclose(params_from_latent(latent_run, z, classify=False)[0], target, atol=1e-3)
    continuous = [i for i, spec in enumerate(table) if spec.is_continuous]
    np.testing.assert_allclose(params_from_latent(latent_run, z)[0][continuous], target[continuous], atol=1e-3)
    assert how == "inverse flow" and isinstance(z, torch.Tensor)


def test_explore_and_interpolate_commands(tiny_run, rom1, tmp_path):
    run = str(tiny_run(LATENT_MODEL))
    out = tmp_path / "cli-explore"
    result = CliRunner().invoke(app, ["explore", run, str(rom1), "--index", "2", "--radius", "0.3", "--count", "3",
                                      "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert len(json.loads((out / "explore.json").read_text())["neighbours"]) == 3
    path = tmp_path / "cli-path"
    result = CliRunner().invoke(app, ["interpolate", run, f"{rom1}#0", f"{rom1}#7", "--steps", "3", "--out",
                                      str(path), "--workers", "2"])
    assert result.exit_code == 0, result.output
    names = [p.name for p in patchflow.parse_preset_file(path / "path.syx").presets]
    assert names[:4] == ["PATH 1", "PATH 2", "PATH 3", "INIT VOICE"]  # a DX7 bank, padded to 32 voices
    saved = json.loads((path / "interpolate.json").read_text())
    assert len(saved["latent_step_sc"]) == 2 and len(saved["linear_step_sc"]) == 2
    bad = CliRunner().invoke(app, ["explore", run, str(rom1), "--index", "40", "--out", str(out)])
    assert bad.exit_code == 1 and "index 40" in bad.output


def test_interpolation_ends_at_the_presets(latent_run, rom1):
    a, b = load_preset(rom1, "dexed", 0), load_preset(rom1, "dexed", 7)
    result = interpolate(latent_run, a, b, steps=3, workers=2)
    table = latent_run.parameters
    np.testing.assert_allclose(result.latent_params[0], table.to_normalised(a.vector(table)), atol=1e-3)
    np.testing.assert_allclose(result.latent_params[-1], table.to_normalised(b.vector(table)), atol=1e-3)
    np.testing.assert_allclose(result.linear_params[1], (result.linear_params[0] + result.linear_params[2]) / 2)


def test_explore_neighbours_are_distinct_presets(latent_run, rom1):
    preset = load_preset(f"{rom1}#3", "dexed")
    result = explore(latent_run, preset, radius=0.05, count=24, workers=2)  # a small radius makes repeats likely
    native = latent_run.parameters.to_native(result.params)
    original = latent_run.parameters.to_native(latent_run.parameters.to_normalised(
        preset.vector(latent_run.parameters))[None])[0]
    keys = {row.tobytes() for row in native}
    assert len(keys) == len(native) == 24 - result.duplicates_dropped
    assert original.tobytes() not in keys
    assert result.audio.shape[0] == len(native) + 1 and len(result.audio_distance) == len(native)
    assert result.duplicates_dropped > 0, "the small radius should have produced repeats to drop"
