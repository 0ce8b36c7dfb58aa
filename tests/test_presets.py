"""Presets as data: vectors in spec order, copies with new values, JSON round trips, sources and results."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from patchflow import ParameterTable, ParseProblem, ParseResult, Preset, PresetSource
from patchflow_dexed import DX7_PARAMETERS

TABLE = ParameterTable(DX7_PARAMETERS)


def test_vector_fills_unset_parameters_with_defaults() -> None:
    preset = Preset(synth="dexed", name="partial", values={"feedback": 7, "algorithm": 4})
    vector = preset.vector(TABLE)
    assert vector.shape == (145,)
    assert vector[TABLE.index("feedback")] == 7 and vector[TABLE.index("algorithm")] == 4
    expected = TABLE.defaults()
    mask = np.ones(145, bool)
    mask[[TABLE.index("feedback"), TABLE.index("algorithm")]] = False
    np.testing.assert_array_equal(vector[mask], expected[mask])
    filled = preset.vector(TABLE, fill=np.zeros(145))
    assert filled.sum() == 11


def test_with_values_copies_and_keeps_the_rest() -> None:
    preset = Preset(synth="dexed", name="a", values={"feedback": 1.0, "extra_knob": 3.0},
                    tags={"Bright/Dark": "Dark"})
    sub = TABLE.subset(["feedback", "transpose"])
    changed = preset.with_values(sub, np.array([5, 30]), name="b")
    assert changed.values["feedback"] == 5.0 and changed.values["transpose"] == 30.0
    assert changed.values["extra_knob"] == 3.0 and changed.name == "b" and changed.tags == preset.tags
    assert preset.values == {"feedback": 1.0, "extra_knob": 3.0}


def test_presets_survive_json() -> None:
    preset = Preset(synth="dexed", name="BRASS 1", values={"feedback": 7.0}, tags={"Bright/Dark": "Bright"},
                    source=PresetSource(path="rom1a.syx", index=3), extra={"raw_name": "BRASS   1 "},
                    flags=["clamped: transpose 60 -> 48"])
    text = json.dumps(preset.model_dump(mode="json"))
    assert Preset.model_validate_json(text) == preset
    assert str(preset.source) == "rom1a.syx#3" and str(PresetSource(path="x.h2p")) == "x.h2p"


def test_preset_refuses_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        Preset(synth="dexed", colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Preset(synth="dexed", values={"feedback": "loud"})


def test_parse_result_reports_skipped_files() -> None:
    empty = ParseResult(path="x.syx", problems=[ParseProblem(path="x.syx", kind="truncated", message="0 voices")])
    assert empty.skipped and empty.problems[0].action == "skipped"
    full = ParseResult(path="x.syx", presets=[Preset(synth="dexed")])
    assert not full.skipped


def test_headroom_gain_keeps_the_loudest_clip_below_full_scale_and_leaves_quiet_groups_alone() -> None:
    import numpy as np

    from patchflow.audio import SAFE_PEAK, headroom_gain

    loud = [np.array([0.5, -2.0], dtype=np.float32), np.array([1.5], dtype=np.float32)]
    assert headroom_gain(loud) == pytest.approx(SAFE_PEAK / 2.0)
    assert headroom_gain([np.array([0.3, -0.9])]) == 1.0
    assert headroom_gain([]) == 1.0
