"""Parameter specs: validation, and the exact native <-> normalised maps (every Dexed value on its grid)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from patchflow import ParameterKind, ParameterSpec, ParameterTable, UnknownParameterError
from patchflow_dexed import DX7_PARAMETERS
from patchflow_dexed.parameters import VCED_MAXIMA, VCED_OFFSETS, VCED_ORDER


def dexed_grid(spec: ParameterSpec) -> list[float]:
    return [float(v) for v in range(int(spec.native_high) + 1)]


def test_dexed_has_145_parameters_with_dx7_ranges() -> None:
    assert len(DX7_PARAMETERS) == 145
    kinds = [spec.kind for spec in DX7_PARAMETERS]
    assert kinds.count(ParameterKind.CONTINUOUS) == 123
    table = ParameterTable(DX7_PARAMETERS)
    assert table["algorithm"].cardinality == 32 and table["lfo_wave"].cardinality == 6
    assert table["op1_left_curve"].cardinality == 4 and table["osc_key_sync"].kind is ParameterKind.BOOLEAN
    assert table["op3_detune"].native_high == 14 and table["transpose"].native_high == 48
    assert sorted(VCED_OFFSETS.values()) == list(range(145))
    assert VCED_ORDER[0] == "op6_env_rate1" and VCED_ORDER[144] == "transpose"
    assert VCED_MAXIMA[VCED_ORDER.index("op1_frequency_coarse")] == 31


@pytest.mark.parametrize("spec", DX7_PARAMETERS, ids=lambda s: s.name)
def test_every_dexed_value_round_trips_exactly(spec: ParameterSpec) -> None:
    grid = dexed_grid(spec)
    normalised = [spec.to_normalised(v) for v in grid]
    assert normalised[0] == 0.0 and normalised[-1] == 1.0
    assert all(a < b for a, b in zip(normalised, normalised[1:])), "the map must be strictly increasing"
    assert [spec.to_native(u) for u in normalised] == grid
    assert all(spec.in_range(v) for v in grid)


def test_dexed_table_round_trips_every_grid_value_vectorised() -> None:
    table = ParameterTable(DX7_PARAMETERS)
    highest = int(max(spec.native_high for spec in table))
    native = np.array([[min(k, spec.native_high) for spec in table] for k in range(highest + 1)])
    np.testing.assert_array_equal(table.to_native(table.to_normalised(native)), native)
    u = table.to_normalised(native)
    for i, spec in enumerate(table):
        assert [spec.to_normalised(v) for v in native[:, i]] == u[:, i].tolist()


def test_values_between_grid_points_snap_and_clamp() -> None:
    spec = ParameterSpec(name="level", low=0, high=99, step=1, default=50)
    assert spec.to_native(0.5) == 50.0  # 49.5 rounds to even
    assert spec.clamp(120) == 99 and spec.clamp(-3) == 0 and spec.clamp(12.4) == 12
    assert not spec.in_range(12.4) and not spec.in_range(float("nan")) and spec.in_range(12)
    assert spec.to_normalised(200) == 1.0 and spec.to_native(-1) == 0.0 and spec.to_native(7) == 99


def test_categorical_and_boolean_specs() -> None:
    wave = ParameterSpec(name="wave", kind=ParameterKind.CATEGORICAL, choices=("sine", "saw", "square"), default=1)
    assert [wave.to_normalised(k) for k in range(3)] == [0.0, 0.5, 1.0]
    assert wave.to_native(0.7) == 1.0 and wave.to_native(0.8) == 2.0
    assert wave.label(2) == "square" and wave.cardinality == 3
    switch = ParameterSpec(name="sync", kind=ParameterKind.BOOLEAN, default=1)
    assert switch.choices == ("off", "on") and switch.label(1) == "on"


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(low=st.integers(-1000, 1000), span=st.integers(1, 5000), step=st.sampled_from([1, 2, 5]),
       data=st.data())
def test_integer_grids_round_trip_exactly(low: int, span: int, step: int, data) -> None:
    high = low + span * step
    spec = ParameterSpec(name="knob", low=low, high=high, step=step, default=low)
    value = float(low + data.draw(st.integers(0, span)) * step)
    assert spec.to_native(spec.to_normalised(value)) == value


def test_continuous_without_step_round_trips_closely() -> None:
    spec = ParameterSpec(name="cutoff", low=20.0, high=20000.0, default=1000.0, unit="Hz")
    for value in np.linspace(20, 20000, 97):
        assert spec.to_native(spec.to_normalised(value)) == pytest.approx(value, rel=1e-12)
    assert spec.label(1000) == "1000 Hz"


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "x", "low": 1.0, "high": 1.0}, "low < high"),
    ({"name": "x", "low": 0.0, "high": float("inf")}, "finite"),
    ({"name": "x", "default": 2.0}, "outside"),
    ({"name": "x", "step": 0.0}, "step must be positive"),
    ({"name": "x", "kind": "categorical", "choices": ("only",)}, "at least two"),
    ({"name": "x", "kind": "categorical", "choices": ("a", "b"), "default": 2}, "class index"),
    ({"name": "x", "kind": "boolean", "choices": ("a", "b", "c")}, "exactly two"),
    ({"name": ""}, "at least 1 character"),
    ({"name": "x", "midi_cc": 128}, "less than or equal"),
])
def test_invalid_specs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ParameterSpec(**kwargs)


def test_table_lookup_subset_and_json() -> None:
    table = ParameterTable(DX7_PARAMETERS)
    assert table.index("feedback") == table.names.index("feedback") and "feedback" in table
    with pytest.raises(UnknownParameterError, match="did you mean feedback"):
        table.index("feedbak")
    sub = table.subset(["transpose", "op1_output_level"])
    assert sub.names == ["transpose", "op1_output_level"]
    np.testing.assert_array_equal(sub.defaults(), [24.0, 99.0])
    assert list(ParameterTable.from_json(table.to_json())) == list(table)
    with pytest.raises(ValueError, match="duplicate parameter names: feedback"):
        ParameterTable([table["feedback"], table["feedback"]])
