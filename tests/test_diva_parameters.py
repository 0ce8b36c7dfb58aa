"""The Diva parameter table, the study's parameter sets, tag pairs and the MIDI mapping."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import patchflow
from patchflow import ParameterKind, Preset, UnknownParameterError
from patchflow_diva.midi import DEFAULT_PARAMETER_CCS, load_midi_mapping
from patchflow_diva.parameters import (
    PAPER_PARAMETER_SETS,
    by_location,
    diva_parameter,
    diva_parameter_table,
    diva_parameters,
    parameter_set,
)
from patchflow_diva.tags import TAG_PAIRS, tag_pair_vector, tag_pairs
from patchflow_vst3 import ConfigError


@pytest.fixture(scope="module")
def params_dir(diva_dir: Path) -> Path:
    return diva_dir / "flow_synthesizer-params"


def test_table_follows_the_plugin_parameter_list(params_dir):
    listed = dict((int(i), name) for i, name in
                  re.findall(r'(\d+): "(.*?)"', (params_dir / "diva_params.txt").read_text()))
    assert len(listed) == 281
    assert {p.index: p.name for p in diva_parameters()} == listed
    assert len(by_location()) == 281, "two parameters share a .h2p location"


def test_defaults_are_the_studys_normalised_defaults(params_dir):
    import json

    defaults = json.loads((params_dir / "param_nomod.json").read_text())
    table = diva_parameter_table()
    for spec in table:
        if spec.name == "VCA1: Offset":
            continue  # the study stores 0 for a bipolar offset; the table starts it at 0 (centre)
        assert spec.to_normalised(spec.default) == pytest.approx(defaults[spec.name], abs=0.005), spec.name
    assert table["ENV1: Sustain"].default == 100.0 and table["VCF1: Frequency"].default == 87.5


def test_every_shared_preset_value_is_in_range_or_flagged(diva_dir):
    from patchflow_diva.formats import DivaH2pParser

    table = diva_parameter_table()
    for path in sorted((diva_dir / "presets").rglob("*.h2p")):
        preset = DivaH2pParser().parse(path).presets[0]
        for name, value in preset.values.items():
            assert table[name].in_range(value), (path.name, name, value)


def test_normalisation_is_exact_both_ways():
    rng = np.random.default_rng(0)
    table = diva_parameter_table()
    for spec in table:
        if spec.is_continuous:
            grid = np.arange(spec.low, spec.high + 1e-9, spec.step or (spec.high - spec.low) / 40)
            natives = np.concatenate([grid, [spec.low, spec.high]])
        else:
            natives = np.arange(spec.cardinality, dtype=float)
        back = np.array([spec.to_native(spec.to_normalised(x)) for x in natives])
        if spec.is_continuous and spec.step is None:  # a linear map: exact up to float rounding
            np.testing.assert_allclose(back, natives, rtol=1e-12, atol=1e-12, err_msg=spec.name)
        else:  # integer grids and classes come back exactly
            np.testing.assert_array_equal(back, natives, err_msg=spec.name)
        assert spec.to_normalised(spec.native_low) == 0.0 and spec.to_normalised(spec.native_high) == 1.0
    u = rng.random((20, len(table)))
    native = table.to_native(u)
    np.testing.assert_array_equal(table.to_native(table.to_normalised(native)), native)


def test_kinds_and_cardinalities():
    table = diva_parameter_table()
    assert table["LFO1: DepthMod Src1"].kind is ParameterKind.CATEGORICAL
    assert table["LFO1: DepthMod Src1"].choices[14] == "Env1" and table["LFO1: DepthMod Src1"].cardinality == 24
    assert table["OSC: Saw1On"].kind is ParameterKind.BOOLEAN
    assert table["FX1: Module"].choices == ("Chorus", "Phaser", "Plate", "Delay", "Rotary")
    assert table["ENV1: Model"].cardinality == 3 and table["LFO1: Waveform"].cardinality == 8
    assert (table["OSC: Tune1"].low, table["OSC: Tune1"].high) == (-24.0, 24.0)
    module = diva_parameter("FX2: Module")
    assert module.native_from_h2p("Plate2") == 2.0 and module.h2p_from_native(2) == "Plate2"
    with pytest.raises(ValueError, match="unknown effect module"):
        module.native_from_h2p("Flanger2")
    assert diva_parameter("VCF1: Frequency").h2p_from_native(200) == 150.0


def test_paper_sets_by_name(params_dir):
    for size in (16, 32, 64):
        listed = (params_dir / "params" / f"{size}contparams.txt").read_text().split("\n")
        listed = [name for name in listed if name.strip()]
        for key in (f"paper-{size}", str(size)):
            subset = parameter_set(key)
            assert subset.names == listed and len(subset) == size
            assert all(spec.is_continuous for spec in subset)
    assert len(parameter_set("all")) == 281
    assert set(PAPER_PARAMETER_SETS["paper-16"]) <= set(PAPER_PARAMETER_SETS["paper-32"]) | {"VCF1: Resonance",
                                                                                              "OSC: OscMix"}
    with pytest.raises(UnknownParameterError, match="known sets: paper-16"):
        parameter_set("paper-17")


def test_unknown_parameter_names_suggest_close_ones():
    with pytest.raises(UnknownParameterError, match="did you mean VCF1: Frequency"):
        diva_parameter("VCF1: Frequncy")


# ---------------------------------------------------------------------------------------------------------- tags
def test_tag_pairs_with_synonym_folding():
    pairs = tag_pairs(["Evolving", "Rich & Phat", "Distorted", "Bright", "Soft", "Aggressive"])
    assert pairs["Constant/Moving"] == "Moving" and pairs["Phat/Thin"] == "Phat"
    assert pairs["Clean/Dirty"] == "Dirty" and pairs["Bright/Dark"] == "Bright"
    assert pairs["Soft/Aggressive"] is None, "both poles tagged: unknown"
    assert pairs["Wide/Narrow"] is None
    assert tag_pairs(["Defined & Sparse"])["Phat/Thin"] == "Thin"
    assert len(TAG_PAIRS) == 10 and TAG_PAIRS[0] == "Bright/Dark"


def test_tag_pair_vector_from_stored_pairs_and_from_character():
    stored = Preset(synth="diva", tags={"Bright/Dark": "Dark", "Clean/Dirty": "Clean", "Phat/Thin": None})
    assert tag_pair_vector(stored) == [-1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    raw = Preset(synth="diva", tags={"Character": ["Evolving", "Vintage", "Wide"]})
    assert tag_pair_vector(raw) == [0, 0, -1, 0, 0, -1, 0, 1, 0, 0]
    numbers = Preset(synth="diva", tags={"Dynamic/Static": -1, "Harmonic/Inharmonic": 1})
    assert tag_pair_vector(numbers)[-2:] == [1, -1]


def test_tags_of_real_presets(diva_dir):
    folder = diva_dir / "presets" / "randomizer-generated"
    tagged = [patchflow.parse_preset_file(p).presets[0] for p in sorted(folder.glob("*.h2p"))]
    full = [p for p in tagged if p.tags.get("Character") == ["Dark", "Constant", "Aggressive", "Phat", "Synthetic",
                                                             "Vintage"]]
    assert full, "the shared presets hold a preset with six Character tags"
    assert tag_pair_vector(full[0]) == [-1, 0, -1, 1, -1, 1, -1, 0, 0, 0]
    assert full[0].tags["Bright/Dark"] == "Dark"
    assert sum(any(tag_pair_vector(p)) for p in tagged) >= 15


def test_presets_inspect_shows_tags_and_values(diva_dir):
    from patchflow.cli import app

    folder = diva_dir / "presets" / "randomizer-generated"
    result = CliRunner().invoke(app, ["presets", "inspect", "--values", str(folder / "PD Current Plum Evy.h2p"),
                                      str(folder / "PD Genetic Fuchsia Helga.h2p")], terminal_width=400)
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", result.output)
    assert "VCF1: Frequency=" in text
    assert re.search(r"(Bright/Dark|Constant/Moving|Modern/Vintage|Phat/Thin)=\w+", text), text[:2000]


# ---------------------------------------------------------------------------------------------------------- MIDI
def test_builtin_midi_mapping(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHFLOW_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("PATCHFLOW_DIVA_MIDI", raising=False)
    mapping = load_midi_mapping()
    assert mapping.origin is None and mapping.cc_for("VCF1: Frequency") == 74 and mapping.cc_for("ModWhl") == 1
    assert mapping.parameter_for(73) == "ENV1: Attack"
    table = mapping.apply(diva_parameter_table())
    assert table["VCF1: Frequency"].midi_cc == 74 and table["OSC: Tune2"].midi_cc is None
    assert set(DEFAULT_PARAMETER_CCS) <= set(diva_parameter_table().names)


def test_midi_mapping_overrides_from_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHFLOW_CONFIG_DIR", str(tmp_path))
    (tmp_path / "diva-midi.toml").write_text('[sources]\nCtrlA = 21\n\n[parameters]\n"OSC: Tune2" = 20\n'
                                             '"VCF1: Frequency" = -1\n')
    mapping = load_midi_mapping()
    assert mapping.sources["CtrlA"] == 21 and mapping.cc_for("OSC: Tune2") == 20
    assert mapping.cc_for("VCF1: Frequency") is None and mapping.origin.endswith("diva-midi.toml")
    other = tmp_path / "other.toml"
    other.write_text('[parameters]\n"ENV1: Attack" = 5\n')
    monkeypatch.setenv("PATCHFLOW_DIVA_MIDI", str(other))
    assert load_midi_mapping().cc_for("ENV1: Attack") == 5
    synth = patchflow.get_synth("diva")
    assert synth.parameters["ENV1: Attack"].midi_cc == 5


@pytest.mark.parametrize("content, error, message", [
    ('[parameters]\n"VCF1: Frequncy" = 74\n', UnknownParameterError, "did you mean"),
    ('[parameters]\n"VCF1: Frequency" = 128\n', ConfigError, "integer 0-127"),
    ('[sources]\nCtrlC = 3\n', ConfigError, "unknown source 'CtrlC'"),
    ('[knobs]\nx = 1\n', ConfigError, "unknown sections"),
    ('[parameters\n', ConfigError, "cannot read configuration"),
])
def test_bad_midi_files_raise_clear_errors(tmp_path, content, error, message):
    path = tmp_path / "midi.toml"
    path.write_text(content)
    with pytest.raises(error, match=message):
        load_midi_mapping(path)
    with pytest.raises(ConfigError, match="not found"):
        load_midi_mapping(tmp_path / "missing.toml")
