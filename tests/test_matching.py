"""`patchflow match` as a user meets it: with a run or a synth's pretrained bundle, any audio file (the pitch heard,
the length fitted, bad files refused in one line), what it writes, and the run facts that let a run match without
its store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import patchflow
from patchflow.apps.matching import (
    estimate_pitch,
    match_sound,
    matching_facts,
    note_name,
    read_target,
    shift_to_note,
)
from patchflow.audio import AudioFileError, read_audio_file, write_wav
from patchflow.cli import app
from patchflow.errors import PatchflowError
from patchflow.registries import Matcher
from patchflow.runtime import load_run
from patchflow.runtime.index import build_index

runner = CliRunner()
RATE = 22050
MODEL = "flow_post"
#: Fast options for matches whose result does not matter here.
QUICK = ["--budget", "0", "--latent-samples", "2", "--neighbours", "2", "--workers", "1", "--no-progress"]


def hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def tone(note: float, seconds: float = 2.0, rate: int = RATE, partials: int = 5, decay: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * k * hz(note) * t) / k for k in range(1, partials + 1))
    return (0.3 * wave * np.exp(-decay * t)).astype(np.float32)


def said(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def run_dir(tiny_run) -> Path:
    return tiny_run(MODEL)


@pytest.fixture(scope="module")
def bundle(run_dir: Path, small_dexed_store, tmp_path_factory) -> Path:
    """A matcher bundle as the recipe makes it: the run's files and an index, and no store to be found."""
    folder = tmp_path_factory.mktemp("bundle") / "pretrained"
    (folder / "checkpoints").mkdir(parents=True)
    for name in ("config.json", "data.json"):
        shutil.copy(run_dir / name, folder / name)
    for name in ("best.pt", "best.json"):
        shutil.copy(run_dir / "checkpoints" / name, folder / "checkpoints" / name)
    data = json.loads((folder / "data.json").read_text())
    data.update(path="nowhere.zarr")
    data.pop("absolute_path")
    (folder / "data.json").write_text(json.dumps(data))
    build_index(small_dexed_store, split="all", dims=32).save(folder / "index.npz")
    return folder


@pytest.fixture()
def installed(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundle as dexed's registered pretrained matcher."""
    monkeypatch.setattr("patchflow.registries.matchers", lambda: {"dexed": Matcher("dexed", bundle, "make it")})
    return bundle


@pytest.fixture(scope="module")
def voice(small_dexed_store, tmp_path_factory) -> Path:
    """A test voice of the store, as a user's WAV file."""
    store = small_dexed_store
    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    audio = store.audio(int(store.split_indices("test")[0]))
    write_wav(path, audio / np.abs(audio).max() * 0.8, RATE)
    return path


# ----------------------------------------------------------------------------------- the forms of the command
def test_a_run_given_first_or_with_run(run_dir: Path, voice: Path, tmp_path: Path) -> None:
    first = runner.invoke(app, ["match", str(run_dir), str(voice), "-o", str(tmp_path / "a"), *QUICK])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["match", str(voice), "--run", str(run_dir), "-o", str(tmp_path / "b"), *QUICK])
    assert second.exit_code == 0, second.output
    a, b = (json.loads((tmp_path / d / "match.json").read_text()) for d in "ab")
    assert a["candidates"] == b["candidates"] and a["run"] == b["run"] == str(run_dir)


def test_a_sound_alone_uses_the_synths_pretrained_bundle(installed: Path, voice: Path, tmp_path: Path) -> None:
    for args in (["match", str(voice)], ["match", str(voice), "--synth", "dexed"]):
        out = tmp_path / str(len(args))
        result = runner.invoke(app, [*args, "-o", str(out), *QUICK])
        assert result.exit_code == 0, result.output
        assert f"dexed's pretrained bundle ({installed})" in said(result) and "+ retrieval" in result.output
        summary = json.loads((out / "match.json").read_text())
        assert summary["run"] == str(installed) and summary["retrieval"].startswith("index (")
        assert (out / "match.syx").is_file()


def test_the_two_forms_are_told_apart(run_dir: Path, installed: Path, voice: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    cases = {
        ("match", str(run_dir)): "is a run directory; give the SOUND to match after it",
        ("match", str(run_dir), str(voice), "--run", str(run_dir)): "two runs given",
        ("match", str(voice), "--synth", "nosuch"): "no pretrained matcher for 'nosuch' (synths with one: dexed)",
        ("match",): "give the SOUND to match",
    }
    for args, message in cases.items():
        result = runner.invoke(app, [*args, "-o", str(out)])
        assert result.exit_code == 1 and message in said(result), (args, result.output)
        assert "Traceback" not in result.output and not out.exists()
    usage = runner.invoke(app, ["match", "--help"], env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    assert "Usage: patchflow match [OPTIONS] RUN_DIR SOUND" in usage.output
    assert "or: patchflow match [OPTIONS] SOUND [--synth SYNTH]" in usage.output


def test_a_missing_bundle_says_how_to_make_it(voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from patchflow.registries import matchers

    real = matchers()["dexed"]
    assert real.path.name == "pretrained" and real.path.parent.name == "patchflow_dexed" and real.plugin == "dexed"
    assert "make pretrained" in real.recipe and "scripts/pretrained_dexed.sh" in real.recipe
    empty = tmp_path / "pretrained"
    empty.mkdir()
    monkeypatch.setattr("patchflow.registries.matchers",
                        lambda: {"dexed": Matcher("dexed", empty, real.recipe, "dexed")})
    result = runner.invoke(app, ["match", str(voice), "-o", str(tmp_path / "m")])
    text = said(result)
    assert result.exit_code == 1 and "dexed's pretrained matcher is not installed" in text
    assert "make pretrained" in text and "patchflow match RUN_DIR SOUND" in text
    assert len(result.output.splitlines()) <= 3
    assert not (tmp_path / "m").exists()


def test_the_command_line_defaults_are_the_library_defaults() -> None:
    from patchflow.apps import matching
    from patchflow.cli import match as command

    assert command.NEIGHBOURS == matching.NEIGHBOURS  # the command line keeps its own copy to start without torch


def test_matchers_register_through_the_hook() -> None:
    from patchflow import hookimpl
    from patchflow.plugins import plugin_problems, register_plugin, unregister_plugin
    from patchflow.registries import matchers

    class Toy:
        @hookimpl
        def register_matchers(self, register):
            register("toy", "/nowhere/toy-bundle", recipe="train one")

    class Twice:
        @hookimpl
        def register_matchers(self, register):
            register("toy", "/elsewhere")

    class Broken:
        @hookimpl
        def register_matchers(self, register):
            register("", 3)

    register_plugin(Toy(), "toy-matcher")
    try:
        toy = matchers()["toy"]
        assert toy.path == Path("/nowhere/toy-bundle") and toy.recipe == "train one" and not toy.installed
        assert toy.plugin == "toy-matcher" and "dexed" in matchers()
        register_plugin(Broken(), "broken-matcher")
        assert "toy" in matchers()
        assert any(p.plugin == "broken-matcher" and "non-empty string" in p.error for p in plugin_problems())
        register_plugin(Twice(), "twice-matcher")
        with pytest.raises(PatchflowError, match="two plugins register a pretrained matcher for 'toy'"):
            matchers()
    finally:
        for name in ("toy-matcher", "broken-matcher", "twice-matcher"):
            try:
                unregister_plugin(name)
            except ValueError:
                pass


# ---------------------------------------------------------------------------------------------------- pitch
@pytest.mark.parametrize("note", [36, 48, 57, 60, 69, 84])
def test_the_pitch_of_a_tone(note: int) -> None:
    pitch = estimate_pitch(tone(note, 3.0), RATE)
    assert pitch.note == note and pitch.verdict == "clear" and pitch.periodic > 0.9 and abs(pitch.cents) < 10


def test_sounds_without_one_clear_pitch_are_said_to_be_so() -> None:
    t = np.arange(3 * RATE) / RATE
    chord = sum(tone(n, 3.0, decay=0.5) for n in (60, 64, 67))  # repeats at C2: a fundamental it does not hold
    pitch = estimate_pitch(chord, RATE)
    assert pitch.verdict == "weak fundamental" and pitch.note == 60
    dense = sum(tone(n, 3.0, decay=0.5, partials=4) for n in (57, 60, 64, 67))
    assert estimate_pitch(dense, RATE).verdict == "none"
    noise = np.random.default_rng(0).standard_normal(3 * RATE).astype(np.float32) * 0.1
    assert estimate_pitch(noise, RATE).verdict == "none" and estimate_pitch(noise, RATE).note is None
    glide = 0.3 * np.sin(2 * np.pi * np.cumsum(hz(55 + 12 * t / 3)) / RATE)
    unsteady = estimate_pitch(glide, RATE)
    assert unsteady.verdict == "unsteady" and unsteady.spread > 3 and 58 <= unsteady.note <= 64


def test_the_model_reads_the_sound_at_its_note() -> None:
    moved = shift_to_note(tone(69, 3.0), RATE, 69, 60, 4 * RATE)
    assert len(moved) == 4 * RATE and estimate_pitch(moved, RATE).note == 60
    assert note_name(60) == "C4" and note_name(69) == "A4" and note_name(61) == "C#4"


@pytest.mark.parametrize("sound, expected, note", [
    ("a4", "note: A4 (MIDI 69, 44", 69),
    ("chord", "a chord, or an inharmonic sound?", 60),
    ("noise", "no clear pitch (periodic in", 60),
])
def test_the_note_line_and_match_json(run_dir: Path, tmp_path: Path, sound: str, expected: str, note: int) -> None:
    audio = {"a4": lambda: tone(69, 3.0),
             "chord": lambda: sum(tone(n, 3.0, decay=0.5) for n in (60, 64, 67)),
             "noise": lambda: np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32) * 0.1}[sound]()
    path = tmp_path / f"{sound}.wav"
    soundfile.write(path, audio / np.abs(audio).max() * 0.5, RATE)
    out = tmp_path / "m"
    result = runner.invoke(app, ["match", str(run_dir), str(path), "-o", str(out), *QUICK])
    assert result.exit_code == 0, result.output
    assert expected in said(result)
    summary = json.loads((out / "match.json").read_text())
    assert summary["target"]["pitch"]["note"] == (None if sound == "noise" else note)
    assert summary["note"] in (note, 60) and summary["notes_tried"][0] == note
    assert f"played at MIDI note {summary['note']}, velocity 100" in said(result)


def test_note_and_velocity_can_be_forced(run_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "a4.wav"
    soundfile.write(path, tone(69, 3.0), RATE)
    out = tmp_path / "m"
    result = runner.invoke(app, ["match", str(run_dir), str(path), "-o", str(out), "--note", "57", "--velocity", "90",
                                 *QUICK])
    assert result.exit_code == 0, result.output
    assert "note: MIDI 57 (A3), as --note says; heard A4 (MIDI 69)" in said(result)
    summary = json.loads((out / "match.json").read_text())
    assert (summary["note"], summary["velocity"], summary["notes_tried"]) == (57, 90, [57])
    audio, _ = soundfile.read(out / "match.wav")
    preset = patchflow.parse_preset_file(out / "match.syx").presets[0]
    run = load_run(run_dir)
    from dataclasses import replace

    again = patchflow.get_synth("dexed").render(preset, replace(run.render_settings, note=57, velocity=90))
    assert np.corrcoef(audio, again)[0, 1] > 0.999  # match.wav plays the note of the result
    for bad, message in ((["--note", "128"], "a MIDI note is 0-127"), (["--velocity", "0"], "1-127"),
                         (["--top", "0"], "at least the best"), (["--budget", "-1"], "0 or more")):
        refused = runner.invoke(app, ["match", str(run_dir), str(path), "-o", str(tmp_path / "x"), *bad])
        assert refused.exit_code == 1 and message in said(refused) and not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------------------------- length
def test_the_length_rule_is_said(tmp_path: Path, run_dir: Path) -> None:
    settings = load_run(run_dir).render_settings
    cases = {"short.wav": (tone(60, 1.2), "padded with silence to the model's 4.00 s clip"),
             "long.wav": (tone(60, 6.5, decay=0.2), "matched its first 4.00 s, the model's clip (key held 3 s, then "
                                                    "1 s of release)"),
             "late.wav": (np.concatenate([np.zeros(RATE // 2, np.float32), tone(60, 4.0)]),
                          "cut 0.49 s of silence before the sound starts")}
    for name, (audio, line) in cases.items():
        soundfile.write(tmp_path / name, audio, RATE)
        target = read_target(tmp_path / name, settings)
        assert any(line in note for note in target.notes), target.notes
        assert len(target.audio) == settings.num_samples
    late = read_target(tmp_path / "late.wav", settings)
    assert abs(late.onset - 0.49) < 0.01 and np.abs(late.audio[:100]).max() < 1e-3 < np.abs(late.audio[300:800]).max()
    exact = tmp_path / "exact.wav"
    soundfile.write(exact, tone(60, 4.0), RATE)
    assert not any("length" in note for note in read_target(exact, settings).notes)


# ------------------------------------------------------------------------------------------------- bad input
def write_bad(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.wav"
    if kind == "text":
        path.write_text("not audio at all\n" * 20)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "silent":
        soundfile.write(path, np.zeros(RATE, np.float32), RATE)
    elif kind == "short":
        soundfile.write(path, tone(60, 0.02), RATE)
    elif kind == "long":  # eleven minutes, at a low rate so that the file stays small
        soundfile.write(path, np.full(11 * 60 * 100, 0.1, np.float32), 100, subtype="FLOAT")
    elif kind == "nan":
        soundfile.write(path, np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind, message", [
    ("text", "cannot read audio (Format not recognised; is it an audio file?)"),
    ("empty", "cannot read audio ("),
    ("silent", "are silent (peak 0 < 0.0001); nothing to match"),
    ("short", "the sound is 20 ms long; the shortest sound matched is 50 ms"),
    ("long", "the sound is 11.0 minutes long; at most 10 minutes are read"),
    ("nan", "22050 of its samples are NaN or infinite"),
    ("folder", "no such audio file (a folder)"),
    ("missing", "no such audio file"),
])
def test_bad_sounds_are_one_line_and_write_nothing(run_dir: Path, tmp_path: Path, kind: str, message: str) -> None:
    path = write_bad(kind, tmp_path) if kind != "missing" else tmp_path / "missing.wav"
    out = tmp_path / "out"
    result = runner.invoke(app, ["match", str(run_dir), str(path), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert message in said(result) and str(path) in said(result)
    assert "Traceback" not in result.output and "Warning" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("channels, rate", [(2, 44100), (6, 48000), (3, 8000), (2, 96000), (1, 11025)])
def test_any_channels_at_any_rate_are_converted_and_said(run_dir: Path, tmp_path: Path, channels: int,
                                                          rate: int) -> None:
    mono = tone(64, 1.5, rate=rate)
    path = tmp_path / "many.wav"
    soundfile.write(path, np.stack([mono * (0.5 + 0.1 * c) for c in range(channels)], axis=1), rate)
    decoded = read_audio_file(path, RATE)
    assert decoded.channels == channels and decoded.source_rate == rate
    assert len(decoded.audio) == round(len(mono) * RATE / rate)
    out = tmp_path / "m"
    result = runner.invoke(app, ["match", str(run_dir), str(path), "-o", str(out), *QUICK])
    assert result.exit_code == 0, result.output
    expected = [f"mixed {channels} channels to mono"] if channels > 1 else []
    expected += [f"resampled {rate} Hz to {RATE} Hz"] if rate != RATE else []
    assert f"read many.wav: {', '.join(expected)}" in said(result)
    assert json.loads((out / "match.json").read_text())["target"]["pitch"]["note"] == 64


def test_read_audio_file_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="NaN or infinite"):
        read_audio_file(write_bad("nan", tmp_path), RATE)
    with pytest.raises(AudioFileError, match="at most 10 minutes"):
        read_audio_file(write_bad("long", tmp_path), RATE)
    assert len(read_audio_file(write_bad("long", tmp_path), RATE, max_seconds=700).audio) == 11 * 60 * RATE


def test_an_unwritable_out_is_one_line(run_dir: Path, voice: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep")
    result = runner.invoke(app, ["match", str(run_dir), str(voice), "-o", str(blocker / "m"), *QUICK])
    assert result.exit_code == 1 and "cannot write the match" in said(result) and "Traceback" not in result.output
    assert blocker.read_text() == "keep"


# ------------------------------------------------------------------------------------------ what it writes
def test_top_k_files_and_the_figure(run_dir: Path, voice: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = runner.invoke(app, ["match", str(run_dir), str(voice), "-o", str(out), "--top", "3", *QUICK])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["candidates.syx", "match.json", "match.png", "match.syx", "match.wav", "rank-1.wav",
                     "rank-2.wav", "rank-3.wav"]
    summary = json.loads((out / "match.json").read_text())
    assert [c["rank"] for c in summary["candidates"]] == [1, 2, 3]
    assert summary["files"]["ranks"] == [str(out / f"rank-{k}.wav") for k in (1, 2, 3)]
    assert "lower is better: 0 is identical, 1 is as far as silence" in summary["meaning"]
    assert "Best match: SC" in said(result) and "lower is better" in said(result)
    from PIL import Image

    with Image.open(out / "match.png") as image:
        width, height = image.size
    assert width > 500 and height > 250


def test_the_figure_reads_seconds_and_hz() -> None:
    from patchflow.data.features import FeatureSettings
    from patchflow.evaluation.report import _mel_ticks

    features = FeatureSettings()
    ticks, labels = _mel_ticks(features, features.n_mels)
    assert labels == ["50", "100", "200", "500", "1k", "2k", "5k", "10k"] and ticks == sorted(ticks)
    import librosa

    centres = librosa.mel_frequencies(features.n_mels + 2, fmin=features.fmin, fmax=features.fmax)[1:-1]
    assert np.interp(ticks[4], np.arange(features.n_mels), centres) == pytest.approx(1000, rel=0.01)


# ---------------------------------------------------------------------------------------------- run facts
def test_a_run_records_its_base_preset_level_and_features(run_dir: Path, small_dexed_store) -> None:
    from patchflow.data.importing import reference_peak

    run = load_run(run_dir)
    assert run.base_preset == small_dexed_store.base_preset and not run.missing_facts
    assert run.reference_peak == pytest.approx(reference_peak(small_dexed_store))
    assert run.feature_settings == small_dexed_store.features
    assert matching_facts(run) == (run.base_preset, run.reference_peak, "the run")


def test_a_run_matches_the_same_without_its_store(run_dir: Path, small_dexed_store, voice: Path) -> None:
    run = load_run(run_dir)
    target = read_target(voice, run.render_settings)
    options = dict(note=target.note, budget_seconds=0, latent_count=4, neighbours=0, workers=1, try_model_note=False)
    with_store = match_sound(run, target.audio, store=small_dexed_store, **options)
    alone = match_sound(run, target.audio, **options)
    assert [c.distance for c in alone.candidates] == [c.distance for c in with_store.candidates]
    assert alone.input_gain == with_store.input_gain != 1.0


def test_an_older_run_falls_back_with_a_warning(run_dir: Path, voice: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    data = json.loads((old / "data.json").read_text())
    del data["base_preset"], data["reference_peak"]
    (old / "data.json").write_text(json.dumps(data))
    run = load_run(old)
    assert run.base_preset is None and run.missing_facts == ["base preset", "reference level"]
    result = runner.invoke(app, ["match", str(old), str(voice), "-o", str(tmp_path / "m"), *QUICK])
    assert result.exit_code == 0, result.output
    assert (f"warning: {old} records no base preset or reference level (trained before runs recorded them): "
            "using its training store's") in said(result)
    data["path"] = data["absolute_path"] = str(tmp_path / "gone.zarr")
    (old / "data.json").write_text(json.dumps(data))
    result = runner.invoke(app, ["match", str(old), str(voice), "-o", str(tmp_path / "n"), *QUICK])
    assert result.exit_code == 0, result.output
    assert "using the synth's defaults" in said(result) and "no retrieval index and no training store" in said(result)
