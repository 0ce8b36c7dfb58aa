"""Bad input on real files, through the real parsers and real Dexed renders: one clear line and a non-zero exit
where nothing could be done, the rest of the work done where something could, and nothing half-written left.

File systems that are read-only or full are real ones (a tmpfs mounted for the test); where mounting is not
allowed those tests are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from patchflow import PresetFormatError, RenderSettings, hookimpl, parse_preset_file
from patchflow.cli import app
from patchflow.data.corpus import read_corpus
from patchflow.plugin_loading import plugin_problems, register_plugin, reset
from patchflow.registries import synth_classes

PATCHFLOW = Path(sys.executable).with_name("patchflow")
SHORT = ["--note-seconds", "0.5", "--total-seconds", "1.0"]
#: One more digit than Python converts to an integer (``ValueError: Exceeds the limit (4300 digits)``).
TOO_MANY_DIGITS = "9" * 4301


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def said(result) -> str:
    """The output of a command with rich's line wrapping undone."""
    return " ".join(result.output.split())


def no_traceback(result) -> bool:
    return "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))


@pytest.fixture(scope="module")
def rom1a(dx7_dir: Path) -> Path:
    return dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"


@pytest.fixture(scope="module")
def bellatrix(diva_dir: Path) -> Path:
    return diva_dir / "presets" / "instatetragrammaton" / "Bellatrix.h2p"


def crafted_json(folder: Path) -> Path:
    """A Dexed preset whose algorithm is an integer of 4301 digits."""
    path = folder / "crafted.preset.json"
    path.write_text('{"synth": "dexed", "name": "crafted", "values": {"algorithm": ' + TOO_MANY_DIGITS + "}}")
    return path


def crafted_h2p(bellatrix: Path, folder: Path, value: str = "9" * 400) -> Path:
    """The real Bellatrix preset with its HPF cutoff (``[HPF] Freq``, the first ``Freq=`` line) set to ``value``."""
    data = bellatrix.read_bytes()
    assert b"\nFreq=30.00" in data
    path = folder / "crafted.h2p"
    path.write_bytes(data.replace(b"\nFreq=30.00", b"\nFreq=" + value.encode(), 1))
    return path


def _mount(where: Path, options: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:  # only where mounting is not allowed
        pytest.skip(f"cannot mount a file system here: {done.stderr.decode().strip()}")
    return where


@pytest.fixture()
def read_only(tmp_path: Path):
    """A real read-only file system (an empty tmpfs mounted ``ro``)."""
    yield _mount(tmp_path / "read-only", "size=1m,ro")
    subprocess.run(["umount", "-l", str(tmp_path / "read-only")], check=False)


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A real 256 KiB file system: writes beyond it fail with ENOSPC."""
    yield _mount(tmp_path / "tiny", "size=256k")
    subprocess.run(["umount", "-l", str(tmp_path / "tiny")], check=False)


def fill(disk: Path) -> None:
    """Fill ``disk`` until writing fails, leaving no room for another file's data."""
    with (disk / "filler").open("wb", buffering=0) as out:
        try:
            while True:
                out.write(bytes(4096))
        except OSError:
            pass


@pytest.fixture()
def fresh_registry():
    reset()
    yield
    reset()


# ------------------------------------------------------------------------- (8) inspect that read nothing fails
@pytest.mark.parametrize("mode", [[], ["--summary"], ["--json"], ["--summary", "--json"]])
def test_inspect_fails_when_no_file_could_be_read(mode: list[str], tmp_path: Path) -> None:
    (tmp_path / "junk.syx").write_bytes(b"junk")
    (tmp_path / "empty.syx").write_bytes(b"")
    result = invoke("presets", "inspect", tmp_path, *mode)
    assert result.exit_code == 1 and no_traceback(result)
    assert "error: no preset could be read from any of the 2 files given" in said(result)
    if "--json" in mode:  # the report is still there, for scripts
        assert json.loads(result.stdout)["summary"]["files_unreadable"] == 2


def test_inspect_of_one_readable_file_still_succeeds(rom1a: Path, tmp_path: Path) -> None:
    (tmp_path / "junk.syx").write_bytes(b"junk")
    result = invoke("presets", "inspect", rom1a, tmp_path / "junk.syx", "--summary")
    assert result.exit_code == 0 and "files read: 1" in result.output


# ------------------------------------------------------------------ (13) one crafted preset never stops the rest
def test_a_crafted_json_preset_does_not_stop_a_build(rom1a: Path, tmp_path: Path) -> None:
    from patchflow.data.build import BuildOptions, build_store

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(rom1a, corpus)
    crafted_json(corpus)
    options = BuildOptions(params="16", settings=RenderSettings(note_seconds=0.5, total_seconds=1.0))
    store = build_store("dexed", [corpus], tmp_path / "store.zarr", options, workers=1)
    assert store.status == "complete" and len(store.split_indices("train")) > 0
    assert int(np.asarray(store.array("ok")[:]).sum()) == 32  # every voice of the bank, rendered by Dexed
    [failure] = [f for f in store.failures if f["source"].endswith("crafted.preset.json")]
    assert failure["stage"] == "parse" and "not finite" in failure["reason"] and "algorithm" in failure["reason"]


def test_inspect_reports_crafted_files_and_reads_the_others(rom1a: Path, bellatrix: Path, tmp_path: Path) -> None:
    crafted_json(tmp_path)
    crafted_h2p(bellatrix, tmp_path)
    shutil.copy(rom1a, tmp_path)
    result = invoke("presets", "inspect", tmp_path)
    assert result.exit_code == 0 and no_traceback(result)
    text = said(result)
    assert "unreadable" in text and "crafted.preset.json: no valid preset in JSON" in text and "algorithm" in text
    assert "bad-value" in text and "[HPF] Freq" in text and "too large" in text and "parameter left out" in text
    assert "2 files read, 1 unreadable, 33 presets" in text
    [diva] = parse_preset_file(tmp_path / "crafted.h2p").presets
    [original] = parse_preset_file(bellatrix).presets
    assert set(original.values) - set(diva.values) == {"HPF: Frequency"}


@pytest.mark.parametrize("value, message", [
    ("9" * 400, "too large"),  # an integer too large for a float: OverflowError in native_from_h2p before
    (TOO_MANY_DIGITS, "not a finite number"),  # more digits than Python converts: ValueError before
    ("9" * 400 + ".0", "not a finite number"),  # a float that overflows to infinity: was clamped silently
    ("-1e999", "not a finite number"),
])
def test_h2p_values_that_are_no_number_are_left_out_and_reported(value: str, message: str, bellatrix: Path,
                                                                 tmp_path: Path) -> None:
    result = parse_preset_file(crafted_h2p(bellatrix, tmp_path, value))
    [problem] = [p for p in result.problems if p.kind == "bad-value"]
    assert "[HPF] Freq" in problem.message and message in problem.message and len(problem.message) < 200
    [preset] = result.presets
    assert "HPF: Frequency" not in preset.values
    assert preset.extra["h2p"].encode("latin-1") == (tmp_path / "crafted.h2p").read_bytes()  # kept as it was


@pytest.mark.parametrize("text", [
    '{"synth": "dexed", "values": {"algorithm": ' + TOO_MANY_DIGITS + "}}",
    '{"synth": "dexed", "values": {"algorithm": -' + "9" * 400 + "}}",
    '{"synth": "dexed", "values": {"algorithm": 1e999}}',
    '{"synth": "dexed", "values": {"algorithm": NaN}}',
    '{"synth": "dexed", "values": {"algorithm": -Infinity}}',
])
def test_json_numbers_that_are_no_finite_float_are_reported(text: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.preset.json"
    path.write_text(text)
    with pytest.raises(PresetFormatError, match=r"not finite numbers .*: algorithm"):
        parse_preset_file(path)
    path.write_text(f"[{text}, " + '{"synth": "dexed", "name": "fine", "values": {"algorithm": 3}}]')
    result = parse_preset_file(path)
    assert [p.name for p in result.presets] == ["fine"] and [p.kind for p in result.problems] == ["not-finite"]


class Broken:
    """A third-party parser of ``.broken`` files that fails in the way its name says."""

    synth = "*"

    def __init__(self, name: str, failure) -> None:
        self.name = name
        self.failure = failure

    def recognises(self, path: Path, head: bytes) -> bool:
        return path.suffix == ".broken"

    def parse(self, path: Path):
        return self.failure()


def _overflow():
    return float(10 ** 400)


def _recursion():
    return _recursion()


@pytest.mark.parametrize("failure, error", [
    (_overflow, "OverflowError: int too large to convert to float"),
    (_recursion, "RecursionError: maximum recursion depth exceeded"),
    (lambda: int(TOO_MANY_DIGITS), "ValueError: Exceeds the limit (4300 digits)"),
    (lambda: {}["x"], "KeyError: 'x'"),
    (lambda: None, "returned NoneType, not a ParseResult"),
])
def test_a_third_party_parser_that_raises_anything_fails_its_file_only(failure, error: str, rom1a: Path,
                                                                       tmp_path: Path, fresh_registry) -> None:
    @hookimpl
    def register_preset_parsers(register):
        register(Broken("broken-format", failure))

    register_plugin(SimpleNamespace(register_preset_parsers=register_preset_parsers), name="broken-plugin")
    bad = tmp_path / "one.broken"
    bad.write_text("anything")
    with pytest.raises(PresetFormatError) as raised:
        parse_preset_file(bad)
    message = str(raised.value)
    assert message.startswith(f"{bad}: the preset parser broken-format (any synth, plugin broken-plugin)")
    assert error in message and "\n" not in message
    shutil.copy(rom1a, tmp_path)
    corpus = read_corpus("dexed", [tmp_path])
    assert len(corpus.presets) == 32
    [failure_record] = corpus.failures
    assert failure_record["source"] == str(bad) and error in failure_record["reason"]
    result = invoke("presets", "inspect", tmp_path, "--summary")
    assert result.exit_code == 0 and no_traceback(result) and "files read: 1" in result.output


def test_each_builtin_parser_turns_its_own_failures_into_format_errors(rom1a: Path, bellatrix: Path,
                                                                      tmp_path: Path, monkeypatch) -> None:
    """Whatever trips a built-in parser (a bug a crafted file finds), it raises PresetFormatError for the file."""
    import patchflow_diva.formats as diva_formats
    from patchflow_dexed import sysex

    from patchflow import builtin_plugins

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug a crafted file found")

    monkeypatch.setattr(sysex, "read_sysex", bug)
    monkeypatch.setattr(diva_formats, "preset_from_document", bug)
    monkeypatch.setattr(builtin_plugins.Preset, "model_validate", bug)
    json_file = tmp_path / "one.preset.json"
    json_file.write_text('{"synth": "dexed", "values": {}}')
    for path, parser in [(rom1a, "dx7-sysex"), (bellatrix, "diva-h2p"), (json_file, "patchflow-json")]:
        with pytest.raises(PresetFormatError, match="ZeroDivisionError: a bug a crafted file found") as raised:
            parse_preset_file(path, parser=parser)
        assert str(raised.value).startswith(f"{path}: ") and "the preset parser" not in str(raised.value)


# ---------------------------------------------------------------------- (16) one line instead of a traceback
def test_render_refuses_a_folder_or_a_suffix_it_does_not_write(rom1a: Path, tmp_path: Path) -> None:
    folder = tmp_path / "renders"
    folder.mkdir()
    result = invoke("render", "dexed", rom1a, "--out", folder, *SHORT)
    assert result.exit_code == 1 and no_traceback(result) and "is a folder" in said(result)
    assert list(folder.iterdir()) == []
    result = invoke("render", "dexed", rom1a, "--out", tmp_path / "note.mp3", *SHORT)
    assert result.exit_code == 1 and "suffix .wav" in said(result) and not (tmp_path / "note.mp3").exists()


@pytest.mark.parametrize("seconds, message", [
    ("inf", "total_seconds must be a finite number of seconds, got inf"),
    ("nan", "total_seconds must be a finite number of seconds, got nan"),
    ("-1", "need 0 < note_seconds <= total_seconds"),
    ("1e9", "total_seconds must be at most 600"),
])
def test_render_refuses_seconds_that_are_no_duration(seconds: str, message: str, rom1a: Path,
                                                      tmp_path: Path) -> None:
    result = invoke("render", "dexed", rom1a, "--out", tmp_path / "x.wav", "--note-seconds", "0.5",
                    "--total-seconds", seconds)
    assert result.exit_code == 1 and no_traceback(result)
    assert f"error: bad render settings: {message}" in said(result) and not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("fields, name", [
    ({"total_seconds": float("inf")}, "total_seconds"), ({"note_seconds": float("-inf")}, "note_seconds"),
    ({"total_seconds": float("nan")}, "total_seconds"), ({"note": 60.5}, "note"),
    ({"sample_rate": 10 ** 9}, "sample_rate"), ({"note_seconds": 1e-9, "total_seconds": 1e-9}, "sample"),
])
def test_render_settings_refuse_values_that_are_not_finite_or_whole(fields: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RenderSettings(**fields)
    assert RenderSettings(sample_rate=22050.0).sample_rate == 22050  # a whole number read back from a file


def test_nothing_is_written_on_a_read_only_file_system(rom1a: Path, bellatrix: Path, read_only: Path,
                                                        tmp_path: Path) -> None:
    for command in (["render", "dexed", rom1a, "--out", read_only / "note.wav", *SHORT],
                    ["render", "dexed", rom1a, "--out", read_only / "new" / "note.wav", *SHORT],
                    ["presets", "convert", rom1a, "--out", read_only / "bank.syx"],
                    ["presets", "convert", rom1a, "--out", read_only / "bank.preset.json"],
                    ["presets", "convert", bellatrix, "--out", read_only / "one.h2p"]):
        result = invoke(*command)
        assert result.exit_code == 1 and no_traceback(result), result.output
        assert "Read-only file system" in said(result) and len(result.output.strip().splitlines()) <= 3
    folder = tmp_path / "diva"
    folder.mkdir()
    shutil.copy(bellatrix, folder)
    shutil.copy(bellatrix, folder / "Second.h2p")
    result = invoke("presets", "convert", folder, "--out", read_only / "presets")
    assert result.exit_code == 1 and "Read-only file system" in said(result)
    assert list(read_only.iterdir()) == []


def test_a_full_disk_leaves_nothing_half_written(rom1a: Path, tiny_disk: Path) -> None:
    fill(tiny_disk)
    for command in (["render", "dexed", rom1a, "--out", tiny_disk / "note.wav", *SHORT],
                    ["presets", "convert", rom1a, "--out", tiny_disk / "bank.syx"],
                    ["presets", "convert", rom1a, "--out", tiny_disk / "bank.preset.json"]):
        result = invoke(*command)
        assert result.exit_code == 1 and no_traceback(result), result.output
        assert "No space left on device" in said(result)
    assert [p.name for p in tiny_disk.iterdir()] == ["filler"]


def test_import_audio_on_a_full_disk_keeps_nothing(small_dexed_store, tiny_disk: Path, tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    t = np.arange(88200) / 22050
    for i in range(3):  # 1 MB of audio for a 256 KiB disk
        soundfile.write(sounds / f"tone{i}.wav", (0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32),
                        22050)
    result = invoke("dataset", "import-audio", sounds, "--like", small_dexed_store.path, "--out",
                    tiny_disk / "ood.zarr")
    assert result.exit_code == 1 and no_traceback(result)
    assert "cannot write the store: No space left on device; nothing was kept" in said(result)
    assert list(tiny_disk.iterdir()) == []


# ------------------------------------------------------------------------------------ (17) misleading errors
def test_import_audio_says_silent_and_keeps_library_chatter_out(small_dexed_store, tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    soundfile.write(sounds / "faint.wav", np.full(22050, 1e-40, dtype=np.float32), 22050, subtype="FLOAT")
    soundfile.write(sounds / "faint44k.wav", np.full(44100, 1e-40, dtype=np.float32), 44100, subtype="FLOAT")
    (sounds / "damaged.mp3").write_bytes(b"\x00not audio" * 50)  # libmpg123 prints "Note: ..." lines for it
    command = [str(PATCHFLOW), "dataset", "import-audio", str(sounds), "--like", str(small_dexed_store.path),
               "--out", str(tmp_path / "silent.zarr")]
    wide = {**os.environ, "COLUMNS": "400"}  # no wrapped lines
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=wide)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "none of the 3 audio files could be used" in output
    assert "faint.wav: silent (peak 1.00e-40 < 0.0001)" in output
    assert "Warning" not in output and "Note:" not in output and "Traceback" not in output
    soundfile.write(sounds / "tone.wav", (0.3 * np.sin(np.arange(22050) / 10)).astype(np.float32), 22050)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=wide)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 clips imported, 3 failed" in output and output.count("silent (peak") == 2
    assert "damaged.mp3: unreadable audio (not a recognised audio format, or damaged)" in output
    assert "does not exist" not in output and "Warning" not in output and "Note:" not in output


def test_render_of_a_silent_preset_says_so_and_does_not_amplify_it(tmp_path: Path) -> None:
    from patchflow import get_synth

    dexed = get_synth("dexed")
    values = dexed.default_preset().values | {f"op{i}_output_level": 0.0 for i in range(1, 7)}
    preset = tmp_path / "mute.preset.json"
    preset.write_text(json.dumps({"synth": "dexed", "name": "mute", "values": values}))
    result = invoke("render", "dexed", preset, "--out", tmp_path / "mute.wav", "--normalise", *SHORT)
    assert result.exit_code == 0 and no_traceback(result)
    assert "warning: the note is silent" in said(result) and "not normalised" in said(result)
    audio, _ = soundfile.read(tmp_path / "mute.wav")
    assert np.abs(audio).max() < 1e-4


# --------------------------------------------------------------------- (18) writers and configuration entries
def test_convert_refuses_a_suffix_no_writer_writes(rom1a: Path, tmp_path: Path) -> None:
    result = invoke("presets", "convert", rom1a, "--out", tmp_path / "x.wav")
    assert result.exit_code == 1 and no_traceback(result)
    text = said(result)
    assert "no writer of synth 'dexed' writes .wav files" in text and ".syx (dx7-sysex)" in text
    assert ".json (patchflow-json)" in text and not (tmp_path / "x.wav").exists()


def test_diva_presets_get_safe_visible_file_names(bellatrix: Path, tmp_path: Path) -> None:
    [original] = parse_preset_file(bellatrix).presets
    names = ["..", ".hidden", "a/b\\c", "CON", " spaced . ", "Pad", "PAD", "x" * 300, "\x00\x01"]
    presets = [original.model_copy(update={"name": name}).model_dump(mode="json") for name in names]
    source = tmp_path / "renamed.preset.json"
    source.write_text(json.dumps(presets))
    out = tmp_path / "written"
    result = invoke("presets", "convert", source, "--out", out)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == len(names) and not any(name.startswith((".", " ")) for name in files)
    assert all(len(name.encode()) <= 255 and "/" not in name and "\\" not in name for name in files)
    assert "CON.h2p" not in files and len({name.lower() for name in files}) == len(files)
    inspected = invoke("presets", "inspect", out, "--json")
    assert json.loads(inspected.stdout)["summary"]["presets"] == len(names)  # folder reading sees every file


def test_one_bad_vst3_entry_leaves_the_others_registered(tmp_path: Path, monkeypatch, fresh_registry) -> None:
    monkeypatch.setenv("PATCHFLOW_CONFIG_DIR", str(tmp_path))
    entries = ["good=/somewhere/Good.vst3", "bad entry", "nohome=~nosuchuser-patchflow/X.vst3",
               "other=/somewhere/Other.vst3"]
    monkeypatch.setenv("PATCHFLOW_VST3_PLUGINS", os.pathsep.join(entries))
    reset()
    assert {"vst3:good", "vst3:other"} <= set(synth_classes())
    problems = {p.hook: p.error for p in plugin_problems() if p.plugin == "vst3"}
    assert problems["PATCHFLOW_VST3_PLUGINS entry 'bad entry'"].startswith("ConfigError: not name=/path")
    assert "Could not determine home directory" in problems[
        "PATCHFLOW_VST3_PLUGINS entry 'nohome=~nosuchuser-patchflow/X.vst3'"]
    result = invoke("synths")
    assert result.exit_code == 0 and no_traceback(result) and "UserWarning" not in result.output
    assert "entry 'bad entry'" in said(result) and "dexed" in result.output
