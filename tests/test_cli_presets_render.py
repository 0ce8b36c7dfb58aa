"""The command line on real files: ``patchflow presets inspect`` and ``patchflow render``, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import typer
from typer.testing import CliRunner

from patchflow.cli import app

runner = CliRunner()
PATCHFLOW = Path(sys.executable).with_name("patchflow")
SHORT = ["--note-seconds", "0.5", "--total-seconds", "1.0"]


@pytest.fixture(scope="module")
def rom1(dx7_dir: Path) -> Path:
    return dx7_dir / "Original Yamaha" / "DX7 ROM1"


@pytest.fixture
def broken_files(tmp_path: Path) -> list[Path]:
    empty = tmp_path / "empty.syx"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a preset")
    return [empty, notes]


def test_inspect_json(rom1: Path) -> None:
    result = runner.invoke(app, ["presets", "inspect", str(rom1 / "ROM1A.syx"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    presets = payload["files"][0]["presets"]
    assert len(presets) == 32 and presets[0]["name"] == "BRASS   1" and len(presets[0]["values"]) == 145
    assert payload["summary"]["presets"] == 32 and payload["unreadable"] == []


def test_inspect_table_lists_presets_and_problems(rom1: Path, broken_files: list[Path]) -> None:
    result = runner.invoke(app, ["presets", "inspect", str(rom1 / "ROM1B.syx"), *map(str, broken_files)])
    assert result.exit_code == 0, result.output
    assert "E.PIANO 2" in result.output and "CELESTE" in result.output
    assert "empty file" in result.output and "no preset parser recognises" in result.output
    assert "1 files read, 2 unreadable, 32 presets" in result.output


def test_inspect_summary(rom1: Path, broken_files: list[Path]) -> None:
    result = runner.invoke(app, ["presets", "inspect", str(rom1), *map(str, broken_files), "--summary", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["files_read"] == 2 and summary["files_unreadable"] == 2 and summary["presets"] == 64
    reasons = sorted(summary["unreadable_reasons"])
    assert reasons[0] == "empty file" and reasons[1].startswith("no preset parser recognises this file")
    text = runner.invoke(app, ["presets", "inspect", str(rom1), *map(str, broken_files), "--summary"])
    assert "files read: 2" in text.output and "1 x empty file" in text.output
    assert "presets: 64 (64 distinct" in text.output


def test_inspect_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["presets", "inspect", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_render_writes_a_wav(rom1: Path, tmp_path: Path) -> None:
    out = tmp_path / "epiano.wav"
    result = runner.invoke(app, ["render", "dexed", str(rom1 / "ROM1A.syx"), "--index", "10", "--out", str(out),
                                 *SHORT])
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(out)
    assert rate == 22050 and audio.shape == (22050,)
    assert 0.01 < np.max(np.abs(audio)) <= 1.0
    again = tmp_path / "again.wav"
    runner.invoke(app, ["render", "dexed", str(rom1 / "ROM1A.syx"), "-i", "10", "-o", str(again), *SHORT])
    assert again.read_bytes() == out.read_bytes()
    # Dexed peaks above full scale: the file is scaled, and the command says so in one line
    assert "to avoid clipping" in " ".join(result.output.split())


@pytest.mark.parametrize("arguments, message", [
    (["render", "moog", "{bank}", "--out", "{out}"], "unknown synth 'moog'; installed synths: "),
    (["render", "dexed", "{empty}", "--out", "{out}"], "empty file"),
    (["render", "dexed", "{bank}", "--index", "40", "--out", "{out}"], "no readable preset at index 40"),
    (["render", "dexed", "{bank}", "--out", "{out}", "--note-seconds", "5"],
     "bad render settings: need 0 < note_seconds <= total_seconds"),
    (["dataset", "build", "{bank}", "--synth", "dexed", "--out", "{out}", "--note", "200"],
     "bad render settings: note must be a MIDI note 0-127"),
])
def test_render_errors_exit_1_without_traceback(arguments: list[str], message: str, rom1: Path,
                                                broken_files: list[Path], tmp_path: Path) -> None:
    values = {"bank": rom1 / "ROM1A.syx", "empty": broken_files[0], "out": tmp_path / "x.wav"}
    result = runner.invoke(app, [a.format(**values) for a in arguments])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.wav").exists()


def test_render_and_dataset_build_share_the_render_options() -> None:
    def options(*command: str) -> list[tuple[str, object, str]]:
        click_command = typer.main.get_command(app).get_command(None, command[0])
        for name in command[1:]:
            click_command = click_command.get_command(None, name)
        return [(p.name, p.default, p.help) for p in click_command.params
                if p.name in {"note", "velocity", "note_seconds", "total_seconds", "sample_rate"}]

    render = options("render")
    assert [name for name, _, _ in render] == ["note", "velocity", "note_seconds", "total_seconds", "sample_rate"]
    assert [default for _, default, _ in render] == [60, 100, 3.0, 4.0, 22050]
    assert options("dataset", "build") == render


def test_real_executable_reports_errors_cleanly(rom1: Path, tmp_path: Path) -> None:
    command = [str(PATCHFLOW), "render", "moog", str(rom1 / "ROM1A.syx"), "--out", str(tmp_path / "x.wav")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "unknown synth 'moog'" in done.stderr and "dexed" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_convert_bank_to_json_and_back(rom1: Path, tmp_path: Path) -> None:
    as_json = tmp_path / "rom1a.preset.json"
    result = runner.invoke(app, ["presets", "convert", str(rom1 / "ROM1A.syx"), "--out", str(as_json)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(as_json.read_text())) == 32
    back = tmp_path / "rom1a.syx"
    result = runner.invoke(app, ["presets", "convert", str(as_json), "-o", str(back)])
    assert result.exit_code == 0, result.output
    assert back.read_bytes() == (rom1 / "ROM1A.syx").read_bytes()


def test_convert_refuses_more_than_a_bank(rom1: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["presets", "convert", str(rom1), "--out", str(tmp_path / "both.syx")])
    assert result.exit_code == 1 and "a DX7 bank holds 32 voices, got 64" in result.output
    assert not (tmp_path / "both.syx").exists()
