"""The core's built-in JSON preset format, registered through the same hooks as external plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchflow import Preset, PresetFormatError, parse_preset_file, write_presets
from patchflow.builtin_plugins import JsonPresetParser, JsonPresetWriter
from patchflow.plugins import ANY_SYNTH, find_writer, plugin_manager, preset_parsers, preset_writers


def presets(synth: str = "dexed") -> list[Preset]:
    return [Preset(synth=synth, name=f"voice {i}", values={"feedback": float(i), "algorithm": 3.0},
                   tags={"Bright/Dark": "Dark"}, extra={"raw_name": f"VOICE {i}   "}, flags=["note"])
            for i in range(3)]


def same(a: Preset, b: Preset) -> bool:
    return (a.synth, a.name, a.values, a.tags, a.extra, a.flags) == (b.synth, b.name, b.values, b.tags, b.extra,
                                                                      b.flags)


def test_registered_through_the_plugin_hooks() -> None:
    assert plugin_manager().get_plugin("patchflow.builtin") is not None
    assert "patchflow-json" in [p.name for p in preset_parsers("dexed")]
    assert "patchflow-json" in [p.name for p in preset_parsers("any-synth-at-all")]
    assert "patchflow-json" in [w.name for w in preset_writers("diva")]
    assert find_writer("dexed", "x.syx").name == "dx7-sysex"
    assert find_writer("dexed", "x.bin").name == "dx7-sysex"  # a synth's own format comes first
    assert find_writer("dexed", "x.preset.json").synth == ANY_SYNTH


@pytest.mark.parametrize("count", [1, 3])
def test_round_trip(count: int, tmp_path: Path) -> None:
    written = presets()[:count]
    path = write_presets(written, tmp_path / "my.preset.json")
    data = json.loads(path.read_text())
    assert isinstance(data, dict if count == 1 else list)
    result = parse_preset_file(path)
    assert result.parser == "patchflow-json" and result.problems == []
    assert all(same(a, b) for a, b in zip(written, result.presets)) and len(result.presets) == count
    assert [str(p.source) for p in result.presets] == [f"{path}#{i}" for i in range(count)]


def test_dexed_bank_round_trips_through_json(dx7_dir: Path, tmp_path: Path) -> None:
    bank = parse_preset_file(dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx").presets
    back = parse_preset_file(write_presets(bank, tmp_path / "rom1a.json"), "dexed").presets
    assert [(p.name, p.values, p.extra) for p in back] == [(p.name, p.values, p.extra) for p in bank]


def test_invalid_items_are_reported_and_skipped(tmp_path: Path) -> None:
    good = presets()[0].model_dump(mode="json")
    path = tmp_path / "mixed.preset.json"
    path.write_text(json.dumps([good, 42, {"name": "no synth"}, {"synth": "dexed", "values": {"a": "loud"}}, good]))
    result = parse_preset_file(path)
    assert len(result.presets) == 2 and [p.source.index for p in result.presets] == [0, 4]
    assert [(p.index, p.kind) for p in result.problems] == [(1, "not-a-preset"), (2, "invalid-preset"),
                                                             (3, "invalid-preset")]
    assert "synth" in result.problems[1].message


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[]", "no valid preset"),
    ('[{"synth": "dexed", "values": {"feedback": NaN}}]', "not finite"),
    ('"just a string"', "no valid preset"),
])
def test_unreadable_json_raises_format_error(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.preset.json"
    path.write_text(text)
    with pytest.raises(PresetFormatError, match=message):
        parse_preset_file(path)


def test_synth_filter_keeps_only_that_synth(tmp_path: Path) -> None:
    path = write_presets(presets("dexed")[:2], tmp_path / "a.preset.json")
    mixed = json.loads(path.read_text()) + [presets("diva")[0].model_dump(mode="json")]
    path.write_text(json.dumps(mixed))
    result = parse_preset_file(path, "dexed")
    assert len(result.presets) == 2 and result.problems[-1].kind == "other-synth"
    with pytest.raises(PresetFormatError, match="no preset of synth 'fm2'"):
        parse_preset_file(path, "fm2")


def test_recognition() -> None:
    parser = JsonPresetParser()
    assert parser.recognises(Path("x.preset.json"), b"")
    assert parser.recognises(Path("x.json"), b' [{"synth": "diva"')
    assert not parser.recognises(Path("package.json"), b'{"name": "left-pad"}')
    assert not parser.recognises(Path("x.syx"), b'{"synth": "dexed"}')


def test_writer_refuses_what_json_cannot_hold(tmp_path: Path) -> None:
    writer = JsonPresetWriter()
    with pytest.raises(PresetFormatError, match="no presets"):
        writer.write([], tmp_path / "x.json")
    bad = Preset(synth="dexed", values={"feedback": float("inf")})
    with pytest.raises(PresetFormatError, match="JSON cannot store"):
        writer.write([bad], tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
