"""Tests specific to the FM2 (two-operator FM) adapter (the generic checks are in the adapter-suite module), run
against the installed package through the real patchflow registry."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import patchflow
from patchflow import PresetFormatError, RenderSettings
from patchflow.plugins import parse_preset_file, preset_writers
from patchflow_fm2 import SYNTH_ID, Fm2Synth

SHORT = RenderSettings(note=57, note_seconds=0.3, total_seconds=0.5, sample_rate=16000)


@pytest.fixture(scope="module")
def synth() -> Fm2Synth:
    return patchflow.get_synth(SYNTH_ID)


@pytest.fixture(scope="module")
def factory_bank() -> Path:
    return Path(str(resources.files("patchflow_fm2") / "factory.json"))


def test_the_factory_presets_render_audible_audio_within_full_scale(synth, factory_bank):
    for preset in parse_preset_file(factory_bank).presets:
        assert 0.01 < np.max(np.abs(synth.render(preset, SHORT))) <= 1.0, preset.name


@pytest.mark.parametrize("name", [spec.name for spec in Fm2Synth().parameters])
def test_every_parameter_changes_the_sound(synth, name):
    table = synth.parameters
    spec = table[name]
    base = synth.default_preset()
    low = base.with_values(table.subset([name]), np.array([spec.native_low]))
    high = base.with_values(table.subset([name]), np.array([spec.native_high]))
    assert not np.allclose(synth.render(low, SHORT), synth.render(high, SHORT), atol=1e-4)


def test_the_factory_bank_parses_without_problems(factory_bank):
    result = parse_preset_file(factory_bank)
    assert result.parser == f"{SYNTH_ID}-json"
    assert result.problems == []
    assert len(result.presets) >= 2
    assert {p.synth for p in result.presets} == {SYNTH_ID}
    assert [p.source.index for p in result.presets] == list(range(len(result.presets)))


def test_presets_survive_a_write_read_round_trip(factory_bank, tmp_path):
    presets = parse_preset_file(factory_bank).presets
    (writer,) = [w for w in preset_writers(SYNTH_ID) if w.name == f"{SYNTH_ID}-json"]
    again = parse_preset_file(writer.write(presets, tmp_path / "copy.json"))
    assert again.parser == f"{SYNTH_ID}-json"
    assert [(p.name, p.values, p.tags) for p in again.presets] == [(p.name, p.values, p.tags) for p in presets]


def test_a_broken_file_raises_a_clear_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "' + SYNTH_ID + '-presets", "version": 1, "presets": [', encoding="utf-8")
    with pytest.raises(PresetFormatError, match="broken.json"):
        parse_preset_file(path)


def test_bad_presets_are_reported_and_skipped_or_clamped(synth, tmp_path):
    name = synth.parameters.names[-1]
    high = synth.parameters[name].native_high
    document = {"format": f"{SYNTH_ID}-presets", "version": 1, "presets": [
        {"name": "good", "values": {}},
        {"name": "unknown knob", "values": {"no_such_knob": 1}},
        {"name": "not a number", "values": {name: "loud"}},
        {"name": "too high", "values": {name: high + 10}},
    ]}
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = parse_preset_file(path)
    assert [p.name for p in result.presets] == ["good", "too high"]
    assert result.presets[1].values[name] == high and result.presets[1].flags
    assert [(p.index, p.kind) for p in result.problems] == [
        (1, "unknown-parameter"), (2, "bad-value"), (3, "out-of-range")]
