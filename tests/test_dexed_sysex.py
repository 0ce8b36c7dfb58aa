"""The DX7 sysex reader and writer: real cartridges, damaged variants of them, writing, and random bytes."""

from __future__ import annotations

import warnings
from pathlib import Path

import dexed
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchflow import ParameterTable, ParseResult, Preset, PresetFormatError, parse_preset_file, write_presets
from patchflow_dexed import DX7_PARAMETERS
from patchflow_dexed.formats import Dx7SysexParser, Dx7SysexWriter
from patchflow_dexed.parameters import VCED_MAXIMA, VCED_ORDER
from patchflow_dexed.sysex import (
    checksum,
    encode_bank,
    encode_voice,
    init_voice,
    preset_to_vced,
    read_sysex,
    read_sysex_file,
    write_bank,
    write_banks,
)

SPECS = {spec.name: spec for spec in DX7_PARAMETERS}
TABLE = ParameterTable(DX7_PARAMETERS)


@pytest.fixture(scope="module")
def rom1a_path(dx7_dir: Path) -> Path:
    return dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"


@pytest.fixture(scope="module")
def rom1a(rom1a_path: Path) -> bytes:
    return rom1a_path.read_bytes()


@pytest.fixture(scope="module")
def rom1b(dx7_dir: Path) -> bytes:
    return (dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1B.syx").read_bytes()


@pytest.fixture(scope="module")
def single_voice(dx7_dir: Path) -> bytes:
    return (dx7_dir / "Single Voice" / "001.syx").read_bytes()


def vced(preset: Preset) -> bytes:
    """A preset's 145 values in VCED byte order (what dexed's ``to_sysex`` gives)."""
    return bytes(int(preset.values[name]) for name in VCED_ORDER)


def dexed_bank(path: Path) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [p.to_sysex()[:145] for p in dexed.Patch.load_bank(str(path))]


def kinds(result: ParseResult) -> set[str]:
    return {p.kind for p in result.problems}


def with_checksum(message: bytearray) -> bytes:
    """Recompute the checksum of a 4104-byte bank message after editing its payload."""
    message[4102] = checksum(bytes(message[6:4102]))
    return bytes(message)


# -------------------------------------------------------------------------------------------------- reading
def test_reads_a_real_bank_like_dexed(rom1a_path: Path, rom1a: bytes) -> None:
    result = read_sysex_file(rom1a_path)
    assert len(result.presets) == 32 and result.problems == []
    assert [vced(p) for p in result.presets] == dexed_bank(rom1a_path)
    first = result.presets[0]
    assert first.synth == "dexed" and first.name == "BRASS   1" and first.extra["raw_name"] == "BRASS   1 "
    assert [p.source.index for p in result.presets] == list(range(32))
    assert set(first.values) == set(SPECS)


def test_reads_a_single_voice_like_dexed(single_voice: bytes) -> None:
    result = read_sysex(single_voice, "001.syx")
    assert len(single_voice) == 163 and len(result.presets) == 1 and result.problems == []
    expected = dexed.Patch.from_sysex(single_voice[6:161] + b"\x3f")
    assert vced(result.presets[0]) == expected.to_sysex()[:145]
    assert result.presets[0].extra["raw_name"] == expected.name


def test_headerless_payload(rom1a: bytes, rom1a_path: Path, tmp_path: Path) -> None:
    raw = tmp_path / "payload.syx"
    raw.write_bytes(rom1a[6:4102])
    result = read_sysex_file(raw)
    assert [vced(p) for p in result.presets] == dexed_bank(rom1a_path)
    assert "headerless" in kinds(result)


def test_bad_checksum_is_read_and_reported(rom1a: bytes) -> None:
    damaged = bytearray(rom1a)
    damaged[4102] ^= 0x01
    result = read_sysex(bytes(damaged))
    assert [vced(p) for p in result.presets] == [vced(p) for p in read_sysex(rom1a).presets]
    problem = next(p for p in result.problems if p.kind == "bad-checksum")
    assert problem.action == "read anyway" and "checksum" in problem.message


def test_variant_header_is_read_and_reported(rom1a: bytes) -> None:
    variant = bytearray(rom1a)
    variant[4:6] = b"\x10\x00"
    result = read_sysex(bytes(variant))
    assert len(result.presets) == 32
    assert kinds(result) == {"variant-header"}
    assert "F0 43 00 09 10 00" in result.problems[0].message


def test_truncated_bank_keeps_every_complete_voice(rom1a: bytes) -> None:
    cut = rom1a[: 6 + 5 * 128 + 50]
    result = read_sysex(cut)
    assert [vced(p) for p in result.presets] == [vced(p) for p in read_sysex(rom1a).presets[:5]]
    assert {"wrong-size", "truncated"} <= kinds(result)
    assert "lost 27" in next(p.action for p in result.problems if p.kind == "truncated")


def test_overlong_bank_is_read_and_reported(rom1a: bytes) -> None:
    longer = rom1a[:4103] + b"\x00\x00" + rom1a[4103:]
    result = read_sysex(longer)
    assert len(result.presets) == 32
    assert "wrong-size" in kinds(result)


def test_several_dumps_and_junk_in_one_file(rom1a: bytes, rom1b: bytes, single_voice: bytes) -> None:
    data = b"Sysex Manager v1\x00" + rom1a + b"\x00\x00" + single_voice + b"\xf0\x43\x10\x00\x01\x02\xf7" + rom1b
    result = read_sysex(data, "multi.syx")
    names = [p.name for p in result.presets]
    assert len(names) == 65
    assert names[:32] == [p.name for p in read_sysex(rom1a).presets]
    assert names[32] == read_sysex(single_voice).presets[0].name
    assert names[33:] == [p.name for p in read_sysex(rom1b).presets]
    assert [p.source.index for p in result.presets] == list(range(65))
    assert {"junk", "other-message"} <= kinds(result)


@pytest.mark.parametrize("content, fragment", [
    (b"", "empty file"),
    (b"Just some notes about my DX7.\n" * 200, "do not look like DX7 voice data"),
    (b"\xf0\x43\x00\x7e\x01\x28LM  8952PM" + b"\x00" * 40 + b"\xf7", "F0 43 00 7E"),
    (bytes(range(100)), "no DX7 voice dump"),
])
def test_unreadable_content_raises_format_error(content: bytes, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.syx"
    path.write_bytes(content)
    with pytest.raises(PresetFormatError, match=fragment) as info:
        read_sysex_file(path)
    assert str(path) in str(info.value)
    with pytest.raises(PresetFormatError):
        parse_preset_file(path)


def test_directory_and_missing_file_raise_format_error(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "missing.syx"):
        with pytest.raises(PresetFormatError, match="cannot read file"):
            read_sysex_file(path)
        with pytest.raises(PresetFormatError):
            parse_preset_file(path)


def test_out_of_range_values_are_clamped_like_dexed_and_marked(rom1a: bytes, tmp_path: Path) -> None:
    bank = bytearray(rom1a)
    voice = 6  # payload of voice 0 starts at byte 6
    bank[voice + 0] = 0x80 | 50  # operator 6 envelope rate 1 = 178: Dexed copies the byte, clamps to 99
    bank[voice + 12] = (15 << 3) | 2  # operator 6 detune 15 (max 14), rate scaling 2
    bank[voice + 102] = 120  # pitch envelope rate 1: Dexed rescales to int(120 / 255 * 99) = 46
    bank[voice + 116] = (7 << 1) | 1  # LFO wave 7 (max 5), sync on
    bank[voice + 117] = 60  # transpose 60 (max 48)
    path = tmp_path / "out-of-range.syx"
    path.write_bytes(with_checksum(bank))
    result = read_sysex_file(path)
    preset = result.presets[0]
    assert vced(preset) == dexed_bank(path)[0]
    assert preset.values["op6_env_rate1"] == 99 and preset.values["op6_detune"] == 14
    assert preset.values["pitch_env_rate1"] == 46 and preset.values["lfo_wave"] == 5
    assert preset.values["transpose"] == 48 and preset.values["op6_rate_scaling"] == 2
    assert all(SPECS[n].in_range(v) for n, v in preset.values.items())
    assert preset.flags and "op6_detune 15 -> 14" in preset.flags[0]
    problem = next(p for p in result.problems if p.kind == "out-of-range")
    assert problem.index == 0 and problem.action == "clamped and marked"
    assert all(not p.flags for p in result.presets[1:])


def test_reserved_bits_are_ignored_like_dexed(rom1a: bytes, tmp_path: Path) -> None:
    bank = bytearray(rom1a)
    bank[6 + 11] |= 0x40  # a bit above the two curve fields
    bank[6 + 120] |= 0x80  # bit 7 of a name character
    path = tmp_path / "reserved.syx"
    path.write_bytes(with_checksum(bank))
    result = read_sysex_file(path)
    assert [vced(p) for p in result.presets] == dexed_bank(path) == [vced(p) for p in read_sysex(rom1a).presets]
    assert kinds(result) == {"reserved-bits"}
    assert not result.presets[0].flags


def test_single_voice_out_of_range_follows_dexed(single_voice: bytes) -> None:
    voice = bytearray(single_voice)
    voice[6 + 11] = 5  # operator 6 left curve 5: Dexed keeps the low two bits -> 1
    voice[6 + 144] = 99  # transpose 99 -> 48
    result = read_sysex(bytes(voice))
    expected = dexed.Patch.from_sysex(bytes(voice[6:161]) + b"\x3f").to_sysex()[:145]
    assert vced(result.presets[0]) == expected
    assert result.presets[0].values["op6_left_curve"] == 1 and result.presets[0].values["transpose"] == 48
    assert {"bad-checksum", "out-of-range"} <= kinds(result)


def test_parser_recognises_sysex_by_suffix_or_content(rom1a: bytes) -> None:
    parser = Dx7SysexParser()
    assert parser.recognises(Path("a.SYX"), b"")
    assert parser.recognises(Path("bank.bin"), rom1a[:4096])
    assert not parser.recognises(Path("notes.txt"), b"hello")
    assert not parser.recognises(Path("perf.bin"), b"\xf0\x43\x00\x7e\x01\x28")
    assert len(parser.parse_bytes(rom1a).presets) == 32


# -------------------------------------------------------------------------------------------------- writing
def test_bank_write_is_byte_exact_and_loads_in_dexed(rom1a_path: Path, rom1a: bytes, tmp_path: Path) -> None:
    presets = read_sysex_file(rom1a_path).presets
    out = write_bank(presets, tmp_path / "copy.syx")
    assert out.read_bytes() == rom1a
    assert dexed_bank(out) == [vced(p) for p in presets]
    again = read_sysex_file(out).presets
    assert [(p.name, p.values, p.extra) for p in again] == [(p.name, p.values, p.extra) for p in presets]


def test_single_voice_write_round_trips(single_voice: bytes, tmp_path: Path) -> None:
    preset = read_sysex(single_voice).presets[0]
    data = encode_voice(preset)
    assert data == single_voice
    assert data[:6] == bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B]) and data[-1] == 0xF7
    assert data[-2] == checksum(data[6:161])
    out = write_presets([preset], tmp_path / "voice.syx")
    assert out.stat().st_size == 163
    back = read_sysex_file(out).presets[0]
    assert (back.name, back.values) == (preset.name, preset.values)


def test_clamped_presets_round_trip(rom1a: bytes, tmp_path: Path) -> None:
    bank = bytearray(rom1a)
    bank[6 + 117] = 100  # transpose out of range
    first = read_sysex(with_checksum(bank)).presets
    second = read_sysex(encode_bank(first)).presets
    assert [p.values for p in second] == [p.values for p in first]
    assert not second[0].flags and first[0].flags


def test_short_bank_is_padded_with_init_voice(rom1a: bytes, tmp_path: Path) -> None:
    presets = read_sysex(rom1a).presets[:3]
    out = write_presets(presets, tmp_path / "three.syx")
    assert out.stat().st_size == 4104
    back = read_sysex_file(out).presets
    assert [p.name for p in back[:3]] == [p.name for p in presets]
    assert all(p.name == "INIT VOICE" and p.values == init_voice().values for p in back[3:])
    assert len(dexed_bank(out)) == 32


def test_writer_modes_and_limits(rom1a: bytes, tmp_path: Path) -> None:
    presets = read_sysex(rom1a).presets
    assert Dx7SysexWriter(mode="bank").write(presets[:1], tmp_path / "one.syx").stat().st_size == 4104
    with pytest.raises(PresetFormatError, match="one preset"):
        Dx7SysexWriter(mode="voice").write(presets[:2], tmp_path / "two.syx")
    with pytest.raises(PresetFormatError, match="32 voices"):
        Dx7SysexWriter().write(presets + presets[:1], tmp_path / "many.syx")
    with pytest.raises(PresetFormatError, match="no presets"):
        Dx7SysexWriter().write([], tmp_path / "none.syx")
    with pytest.raises(ValueError):
        Dx7SysexWriter(mode="cartridge")  # type: ignore[arg-type]
    files = write_banks(presets * 2 + presets[:6], tmp_path / "big.syx")
    assert [f.name for f in files] == ["big-01.syx", "big-02.syx", "big-03.syx"]
    assert sum(1 for f in files for p in read_sysex_file(f).presets if p.name != "INIT VOICE") == 70


def test_writer_refuses_bad_presets(tmp_path: Path) -> None:
    with pytest.raises(PresetFormatError, match="belongs to synth 'diva'"):
        encode_voice(Preset(synth="diva", name="x"))
    with pytest.raises(PresetFormatError, match="not a finite number"):
        encode_voice(Preset(synth="dexed", name="x", values={"feedback": float("nan")}))


def test_names_without_raw_name_are_made_ascii() -> None:
    preset = Preset(synth="dexed", name="Flûte douce très longue")
    back = read_sysex(encode_voice(preset)).presets[0]
    assert back.extra["raw_name"] == "Fl?te douc"


# ------------------------------------------------------------------------------------------ property tests
def check_outcome(data: bytes) -> None:
    """The reader either parses (every value valid) or raises PresetFormatError; nothing else."""
    try:
        result = read_sysex(data, "fuzz.syx")
    except PresetFormatError:
        return
    assert result.presets
    for preset in result.presets:
        assert set(preset.values) == set(SPECS)
        assert all(SPECS[n].in_range(v) for n, v in preset.values.items())
        assert len(preset.extra["raw_name"]) == 10
        unit = TABLE.to_normalised(preset.vector(TABLE))  # conversion on: normalised values and voice bytes
        assert np.all((unit >= 0) & (unit <= 1))
        assert len(preset_to_vced(preset)) == 155


FUZZ = settings(max_examples=200, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=9000))
def test_random_bytes_never_crash(data: bytes) -> None:
    check_outcome(data)


@FUZZ
@given(st.binary(min_size=1, max_size=300).map(lambda tail: b"\xf0\x43\x00\x09\x20\x00" + tail))
def test_random_bodies_behind_a_bank_header_never_crash(data: bytes) -> None:
    check_outcome(data)


@st.composite
def mutated_cartridges(draw, sources: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if op == "set" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 200))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[: draw(st.integers(1, 300))]
    return bytes(data)


def test_mutated_real_cartridges_never_crash(rom1a: bytes, single_voice: bytes) -> None:
    sources = [rom1a, single_voice, rom1a + single_voice, rom1a[6:4102]]

    @FUZZ
    @given(mutated_cartridges(sources))
    def run(data: bytes) -> None:
        check_outcome(data)

    run()


#: Values a preset from another format (JSON, a third-party parser) can hold for a Dexed parameter.
ANY_VALUE = st.one_of(
    st.floats(),  # NaN and infinities included
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 99.5, -1.0, 1000.0]),
    st.integers(-10 ** 300, 10 ** 300).map(float),
)
_DEXED = {}


def dexed_synth():
    if not _DEXED:
        from patchflow import get_synth

        _DEXED["synth"] = get_synth("dexed")
    return _DEXED["synth"]


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(values=st.dictionaries(st.sampled_from(sorted(SPECS)), ANY_VALUE, min_size=1, max_size=12))
def test_presets_with_any_values_encode_and_render_or_refuse(values: dict[str, float]) -> None:
    """A preset holding any values is encoded clamped to the DX7 ranges and rendered by Dexed, or, holding NaN or
    infinity, refused with PresetFormatError (RenderError when rendering) naming the parameter."""
    from patchflow import RenderError, RenderSettings

    preset = Preset(synth="dexed", name="extreme", values=values)
    settings = RenderSettings(note_seconds=0.1, total_seconds=0.2)
    bad = [n for n, v in values.items() if not np.isfinite(v)]
    if bad:
        with pytest.raises(PresetFormatError, match="is not a finite number"):
            preset_to_vced(preset)
        with pytest.raises(RenderError, match="is not a finite number"):
            dexed_synth().render(preset, settings)
        return
    voice = np.frombuffer(preset_to_vced(preset)[:145], dtype=np.uint8)
    assert np.all(voice <= np.asarray(VCED_MAXIMA))
    clamped = TABLE.clamp(preset.vector(TABLE))
    assert read_sysex(encode_voice(preset)).presets[0].vector(TABLE).tolist() == clamped.tolist()
    audio = dexed_synth().render(preset, settings)
    assert audio.shape == (settings.num_samples,) and np.all(np.isfinite(audio))


def test_a_preset_holding_an_integer_of_thousands_of_digits_is_refused() -> None:
    """A preset made without validation (a third-party parser) may hold one; the error names it in a few words."""
    preset = Preset.model_construct(synth="dexed", name="huge", values={"algorithm": 10 ** 5000}, tags={},
                                    source=None, extra={}, flags=[])
    with pytest.raises(PresetFormatError, match="algorithm = an integer of thousands of digits is not a finite"):
        preset_to_vced(preset)
