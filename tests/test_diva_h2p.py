"""Diva ``.h2p`` reading and writing on the shared presets: lossless round trips, clear errors, fuzzing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import patchflow
from patchflow import PresetFormatError
from patchflow_diva.formats import DivaH2pParser, document_from_preset, template_document
from patchflow_diva.h2p import format_value, parse_h2p, parse_value, read_h2p


@pytest.fixture(scope="module")
def h2p_files(diva_dir: Path) -> list[Path]:
    files = sorted((diva_dir / "presets").rglob("*.h2p"))
    assert len(files) >= 50, "the shared Diva presets are missing"
    return files


@pytest.fixture(scope="module")
def bellatrix(diva_dir: Path) -> Path:
    return diva_dir / "presets" / "instatetragrammaton" / "Bellatrix.h2p"


def test_every_shared_preset_writes_back_byte_identical(h2p_files):
    for path in h2p_files:
        data = path.read_bytes()
        assert parse_h2p(data, path, "Diva").to_bytes() == data, path


def test_every_shared_preset_round_trips_as_a_preset(h2p_files):
    parser = DivaH2pParser()
    for path in h2p_files:
        preset = parser.parse(path).presets[0]
        assert preset.synth == "diva" and preset.name == path.stem
        assert len(preset.values) >= 278  # older files lack VCC MuCore, OPT Acc and OffAcc
        assert document_from_preset(preset).to_bytes() == path.read_bytes(), path


def test_presets_round_trip_through_the_plugin_registry(h2p_files, tmp_path):
    for number, path in enumerate(h2p_files[::10]):
        result = patchflow.parse_preset_file(path)
        assert result.parser == "diva-h2p" and len(result.presets) == 1
        preset = result.presets[0]
        out = patchflow.write_presets([preset], tmp_path / f"{number}.h2p")
        assert out.read_bytes() == path.read_bytes(), path
        again = patchflow.parse_preset_file(out).presets[0]
        assert again.values == preset.values and again.tags == preset.tags


def test_several_presets_are_written_into_a_folder(h2p_files, tmp_path):
    presets = [patchflow.parse_preset_file(path).presets[0] for path in h2p_files[:3]]
    folder = patchflow.write_presets(presets, tmp_path / "bank")
    written = sorted(folder.glob("*.h2p"))
    assert [p.stem for p in written] == sorted(p.name for p in presets)
    assert {p.read_bytes() for p in written} == {p.read_bytes() for p in h2p_files[:3]}


def test_document_structure(bellatrix):
    doc = read_h2p(bellatrix)
    assert doc.meta == {"Author": "Instatetragrammaton"}
    assert doc.header_value("AM") == "Diva" and doc.header_value("Vers") == "10001"
    assert doc.header_value("Endian") == "little"
    assert doc.modulation_sources[:4] == ["none", "ModWhl", "PitchW", "CtrlA"] and len(doc.modulation_sources) == 24
    assert doc.section_names[:3] == ["main", "PCore", "CLK"]
    assert doc.get("ENV1", "Dec") == 40.0 and doc.raw("ENV1", "Dec") == "40.00"
    assert doc.get("main", "#FX1") == 1 and isinstance(doc.get("main", "#FX1"), int)
    assert doc.get("FX1", "Module") == "Chorus1"
    assert doc.tail is not None and doc.tail.endswith(b"\x00\x00") and doc.tail.startswith(b"?")


def test_changed_value_rewrites_only_its_line(bellatrix, tmp_path):
    preset = patchflow.parse_preset_file(bellatrix).presets[0]
    changed = preset.model_copy(update={"values": {**preset.values, "VCF1: Frequency": 33.25}})
    out = patchflow.write_presets([changed], tmp_path / "changed.h2p")
    before = bellatrix.read_bytes().split(b"\n")
    after = out.read_bytes().split(b"\n")
    diff = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(diff) == 1
    assert diff[0][1] == b"Freq=33.25"
    assert patchflow.parse_preset_file(out).presets[0].values["VCF1: Frequency"] == 33.25


def test_unknown_keys_and_sections_survive(bellatrix, tmp_path):
    data = bellatrix.read_bytes().replace(b"#cm=ENV1\n", b"#cm=ENV1\nFuture=0.50\n", 1)
    data = data.replace(b"#cm=ENV2\n", b"#cm=NEWMOD\nDepth='deep'\n#cm=ENV2\n", 1)
    path = tmp_path / "future.h2p"
    path.write_bytes(data)
    preset = patchflow.parse_preset_file(path).presets[0]
    edited = preset.model_copy(update={"values": {**preset.values, "ENV1: Attack": 12.0}})
    written = document_from_preset(edited).to_bytes()
    doc = parse_h2p(written)
    assert doc.get("ENV1", "Future") == 0.5 and doc.get("NEWMOD", "Depth") == "deep"
    assert doc.get("ENV1", "Atk") == 12.0


def test_out_of_range_values_are_flagged_and_kept_in_the_file(bellatrix, tmp_path):
    preset = patchflow.parse_preset_file(bellatrix).presets[0]
    assert "clamped: OSC: Tune3 27 -> 24" in preset.flags
    assert preset.values["OSC: Tune3"] == 24.0
    assert b"Tune3=27.00" in document_from_preset(preset).to_bytes()


def test_meta_edits_are_written(bellatrix):
    preset = patchflow.parse_preset_file(bellatrix).presets[0]
    tagged = preset.model_copy(update={"tags": {**preset.tags, "Character": ["Dark", "Evolving"]}})
    doc = parse_h2p(document_from_preset(tagged).to_bytes())
    assert doc.meta["Character"] == "Dark, Evolving" and doc.meta["Author"] == "Instatetragrammaton"


def test_value_text_conversions():
    assert parse_value("'x y'") == "x y" and parse_value("-12.50") == -12.5 and parse_value("7") == 7
    assert format_value(12.0) == "12.00" and format_value(1 / 3).startswith("0.333333") and format_value("a") == "'a'"


def test_template_document_holds_every_parameter_at_its_default():
    doc = parse_h2p(template_document().to_bytes(), "template", "Diva")
    assert doc.get("VCF1", "Freq") == 87.5 and doc.get("ENV1", "Sus") == 100.0
    assert doc.get("FX1", "Module") == "Chorus1" and doc.tail is None


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:40], "truncated"),
    (lambda b: b.replace(b"#AM=Diva", b"#AM=Zebra2"), "'Zebra2' preset, not Diva"),
    (lambda b: b"\x00\x01\x02 not a preset at all", "not a u-he preset"),
    (lambda b: b"", "not a u-he preset"),
    (lambda b: b.replace(b"\nDec=40.00\n", b"\nDec 40\n", 1), "expected Key=value"),
])
def test_damaged_files_raise_a_clear_error(bellatrix, tmp_path, damage, message):
    path = tmp_path / "damaged.h2p"
    path.write_bytes(damage(bellatrix.read_bytes()))
    with pytest.raises(PresetFormatError, match=message) as info:
        patchflow.parse_preset_file(path)
    assert "damaged.h2p" in str(info.value)


def test_parse_preset_file_reports_a_missing_file(tmp_path):
    with pytest.raises(PresetFormatError, match="cannot read"):
        read_h2p(tmp_path / "missing.h2p")


def _check_parses_or_refuses(data: bytes) -> None:
    try:
        doc = parse_h2p(data, "fuzz.h2p")
    except PresetFormatError:
        return
    assert parse_h2p(doc.to_bytes()).to_bytes() == doc.to_bytes()


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data):
    _check_parses_or_refuses(data)


@settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("#cmAD=iva\n'*/@Meta:$0123456789. xyz")), max_size=400))
def test_fuzz_h2p_like_text(text):
    _check_parses_or_refuses(("/*@Meta\n" if text[:1] == "@" else "").encode() + text.encode("latin-1"))


@settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_real_preset(bellatrix, data):
    original = bellatrix.read_bytes()
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if not mutated:
            break
        at = data.draw(st.integers(0, len(mutated) - 1))
        if action == "flip":
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del mutated[at: at + data.draw(st.integers(1, 64))]
        elif action == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del mutated[at:]
    _check_parses_or_refuses(bytes(mutated))


#: Value texts a crafted or damaged ``.h2p`` file can hold where a number belongs: long digit strings (past the
#: 4300 digits Python converts to an integer), numbers too large for a float, huge exponents, signs, words.
H2P_NUMBER = st.one_of(
    st.integers(1, 5000).map(lambda n: "9" * n),
    st.integers(1, 600).map(lambda n: "-" + "9" * n + ".5"),
    st.integers(-1000, 1000).map(lambda e: f"1e{e}"),
    st.sampled_from(["nan", "inf", "-inf", "NaN", "1e999", "-1e999", "0", "-0.00", "+7", ".5", "1.", "''"]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.6f}"),
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_numbers_become_presets_in_range_or_are_reported(bellatrix, data):
    """Values of any size in a real preset: reading it gives a preset whose values are finite and in range (they
    normalise into [0, 1]) and reports the others; writing the preset back works and reads back the same."""
    from patchflow_diva.formats import preset_from_document
    from patchflow_diva.parameters import diva_parameter_table

    lines = bellatrix.read_bytes().decode("latin-1").split("\n")
    numeric = [i for i, line in enumerate(lines) if "=" in line and not line.startswith("#")
               and parse_value(line.partition("=")[2]).__class__ in (int, float)]
    for index in data.draw(st.lists(st.sampled_from(numeric), min_size=1, max_size=6, unique=True)):
        key = lines[index].partition("=")[0]
        lines[index] = f"{key}={data.draw(H2P_NUMBER)}"
    try:
        doc = parse_h2p("\n".join(lines).encode("latin-1"), "fuzz.h2p", "Diva")
    except PresetFormatError:
        return
    problems = []
    preset = preset_from_document(doc, "fuzz", None, problems)
    table = diva_parameter_table()
    assert all(isinstance(v, float) and table[n].in_range(v) for n, v in preset.values.items())
    unit = table.to_normalised(preset.vector(table))
    assert np.all((unit >= 0) & (unit <= 1))
    assert all(p.kind == "bad-value" and len(p.message) < 300 for p in problems)
    again = preset_from_document(parse_h2p(document_from_preset(preset).to_bytes(), "again.h2p", "Diva"), "fuzz")
    assert again.values == preset.values


def test_the_parser_reads_a_value_of_400_nines_without_crashing(bellatrix, tmp_path):
    """The Diva parser itself (not only the registry's call site) reports such a value and reads the rest."""
    crafted = tmp_path / "nines.h2p"
    crafted.write_bytes(bellatrix.read_bytes().replace(b"\nFreq=30.00", b"\nFreq=" + b"9" * 400, 1))
    result = DivaH2pParser().parse(crafted)
    [problem] = result.problems
    assert problem.kind == "bad-value" and "too large" in problem.message and problem.path == str(crafted)
