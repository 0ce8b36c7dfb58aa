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


# ---------------------------------------------------------- extreme values, and presets read from text on the way
#: Native values a crafted or damaged file can carry: huge, tiny, negative, infinite (NaN is drawn separately).
EXTREME = st.one_of(
    st.floats(allow_nan=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, float("inf"), float("-inf"), 2.0 ** 63, -(2.0 ** 63)]),
    st.integers(-10 ** 300, 10 ** 300).map(float),
)
HARD = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@HARD
@given(values=st.lists(EXTREME, min_size=145, max_size=145))
def test_any_native_values_clamp_and_normalise_into_range(values: list[float]) -> None:
    """Vectorised and per-spec clamping agree on any value, and normalised values stay in [0, 1]."""
    table = ParameterTable(DX7_PARAMETERS)
    native = np.asarray(values, dtype=np.float64)
    clamped = table.clamp(native)
    assert clamped.tolist() == [spec.clamp(v) for spec, v in zip(table, values)]
    assert all(spec.in_range(v) for spec, v in zip(table, clamped.tolist()))
    unit = table.to_normalised(native)
    assert np.all(np.isfinite(unit)) and np.all((unit >= 0) & (unit <= 1))
    np.testing.assert_array_equal(table.to_native(unit), clamped)


@HARD
@given(rows=st.lists(st.lists(st.one_of(EXTREME, st.just(float("nan"))), min_size=145, max_size=145),
                     min_size=1, max_size=4))
def test_presets_with_any_values_become_finite_rows_in_range(rows: list[list[float]]) -> None:
    """What a corpus does with parsed presets: NaN and infinity become the fill value, the rest is clamped."""
    from patchflow import Preset
    from patchflow.data.corpus import native_matrix

    table = ParameterTable(DX7_PARAMETERS)
    presets = [Preset.model_construct(synth="dexed", name="", values=dict(zip(table.names, row)), tags={},
                                      source=None, extra={}, flags=[]) for row in rows]
    matrix = native_matrix(presets, table, table.defaults())
    expected = np.where(np.isfinite(rows), rows, table.defaults())
    np.testing.assert_array_equal(matrix, table.clamp(expected))
    unit = table.to_normalised(matrix)
    assert np.all((unit >= 0) & (unit <= 1))


#: JSON number tokens as files write them: long digit strings (past the 4300 digits Python converts), huge
#: exponents, signs, NaN and infinities.
JSON_NUMBER = st.one_of(
    st.integers(1, 5000).map(lambda n: "9" * n),
    st.integers(1, 5000).map(lambda n: "-" + "1" * n),
    st.tuples(st.integers(1, 400), st.integers(1, 400)).map(lambda a: "9" * a[0] + "." + "9" * a[1]),
    st.integers(-1000, 1000).map(lambda e: f"1e{e}"),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "0", "-0", "99", "-5", "1.5e308", "-1e-400"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@HARD
@given(tokens=st.dictionaries(st.sampled_from([s.name for s in DX7_PARAMETERS]), JSON_NUMBER, max_size=6),
       as_list=st.booleans())
def test_json_presets_with_any_numbers_parse_or_refuse_cleanly(tokens: dict[str, str], as_list: bool) -> None:
    """Every number a JSON preset can hold: the parser refuses the preset (PresetFormatError) or gives one whose
    values are finite floats, which normalise into [0, 1]."""
    from patchflow import PresetFormatError
    from patchflow.builtin_plugins import JsonPresetParser

    body = ", ".join(f'"{name}": {token}' for name, token in tokens.items())
    text = '{"synth": "dexed", "name": "x", "values": {' + body + "}}"
    try:
        result = JsonPresetParser().parse_text(f"[{text}]" if as_list else text, "fuzz.preset.json")
    except PresetFormatError as exc:
        assert "fuzz.preset.json" in str(exc) and "\n" not in str(exc)
        return
    table = ParameterTable(DX7_PARAMETERS)
    [preset] = result.presets
    assert all(isinstance(v, float) and np.isfinite(v) for v in preset.values.values())
    unit = table.to_normalised(preset.vector(table))
    assert np.all((unit >= 0) & (unit <= 1))
