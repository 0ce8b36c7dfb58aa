"""Tests of the DX7 text reader, run through patchflow's registry with the real Dexed adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import patchflow
from patchflow import PresetFormatError, RenderSettings
from patchflow.plugins import find_parser, parse_preset_file

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "bells.dx7.txt"


def test_the_plugin_claims_dx7_text_files():
    assert find_parser(SAMPLE).name == "dx7-text"


def test_the_sample_voices_are_read_by_name_with_labels_resolved():
    result = parse_preset_file(SAMPLE)
    assert result.problems == []
    assert [p.name for p in result.presets] == ["Glass bell", "Hollow organ"]
    bell, organ = result.presets
    assert bell.synth == "dexed"
    assert bell.values["algorithm"] == 4  # label "algorithm 5" is class 4
    assert organ.values["lfo_wave"] == 4  # "sine"
    assert bell.values["op2_frequency_coarse"] == 3


def test_the_voices_render_with_dexed_and_differ():
    synth = patchflow.get_synth("dexed")
    settings = RenderSettings(note_seconds=0.5, total_seconds=0.6)
    bell, organ = (synth.render(p, settings) for p in parse_preset_file(SAMPLE).presets)
    assert np.max(np.abs(bell)) > 0.01 and np.max(np.abs(organ)) > 0.01
    assert not np.allclose(bell, organ)


def test_bad_lines_skip_their_voice_and_out_of_range_values_are_clamped(tmp_path):
    path = tmp_path / "mixed.dx7.txt"
    path.write_text("; dx7-text\n[Typo]\nop1_outptu_level = 3\n[Word]\nfeedback = lots\n"
                    "[Loud]\nop1_output_level = 140\n", encoding="utf-8")
    result = parse_preset_file(path)
    assert [p.name for p in result.presets] == ["Loud"]
    assert result.presets[0].values["op1_output_level"] == 99 and result.presets[0].flags
    assert [(p.index, p.kind) for p in result.problems] == [(0, "bad-line"), (1, "bad-line"), (2, "out-of-range")]
    assert "did you mean op1_output_level" in result.problems[0].message


def test_a_file_that_is_not_ini_raises_a_clear_error(tmp_path):
    path = tmp_path / "broken.dx7.txt"
    path.write_text("; dx7-text\nalgorithm = 5\n", encoding="utf-8")
    with pytest.raises(PresetFormatError, match="broken.dx7.txt"):
        parse_preset_file(path)
