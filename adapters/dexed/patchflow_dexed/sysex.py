"""Reading and writing Yamaha DX7 voice data in MIDI system-exclusive (sysex) form.

Formats read:

* 32-voice bulk dumps: ``F0 43 0n 09 20 00`` + 4096 packed bytes (32 voices of 128 bytes) + checksum + ``F7``
  (4104 bytes);
* single-voice dumps: ``F0 43 0n 00 01 1B`` + 155 unpacked (VCED) bytes + checksum + ``F7`` (163 bytes);
* headerless 4096-byte bank payloads (and files holding several of them back to back);
* any number of such dumps in one file, in any order, with other sysex messages or junk between them.

Damaged data is read as far as it can be trusted and every problem is reported as a
:class:`~patchflow.ParseProblem`: bad checksums (read anyway), variant headers (read anyway), wrong sizes (every
complete voice is read), out-of-range values (brought into range exactly as Dexed does, and the preset marked
in :attr:`~patchflow.Preset.flags`). Only :class:`~patchflow.PresetFormatError` is ever raised, and only when not a
single voice can be read.

Values are decoded exactly as ``dexed.Patch.load_bank`` / ``dexed.Patch.from_sysex`` followed by ``to_sysex``
decode them, so a preset read here renders like the same voice loaded in Dexed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from patchflow import ParameterTable, ParseProblem, ParseResult, Preset, PresetFormatError, PresetSource

from .parameters import DX7_PARAMETERS, VCED_MAXIMA, VCED_ORDER

SYNTH_ID = "dexed"

SYSEX_START = 0xF0
SYSEX_END = 0xF7
YAMAHA = 0x43
BANK_FORMAT = 0x09
VOICE_FORMAT = 0x00
BANK_VOICES = 32
PACKED_VOICE_SIZE = 128
BANK_PAYLOAD_SIZE = BANK_VOICES * PACKED_VOICE_SIZE  # 4096
VOICE_PAYLOAD_SIZE = 155
HEADER_SIZE = 6
BANK_MESSAGE_SIZE = HEADER_SIZE + BANK_PAYLOAD_SIZE + 2  # 4104
VOICE_MESSAGE_SIZE = HEADER_SIZE + VOICE_PAYLOAD_SIZE + 2  # 163
BANK_BYTE_COUNT = bytes([0x20, 0x00])
VOICE_BYTE_COUNT = bytes([0x01, 0x1B])
NAME_SIZE = 10
PARAMETER_COUNT = 145

_MAXIMA = np.array(VCED_MAXIMA, dtype=np.int16)
_PITCH_EG = slice(126, 134)
#: Parameter names in the order of :data:`DX7_PARAMETERS` (operator 1 first), and their VCED byte.
_NAMES = [spec.name for spec in DX7_PARAMETERS]
_VCED_INDEX = np.array([VCED_ORDER.index(name) for name in _NAMES])
_TABLE = ParameterTable(DX7_PARAMETERS)
#: Column of :data:`_TABLE` that each VCED byte 0-144 holds.
_VCED_COLUMNS = np.array([_NAMES.index(name) for name in VCED_ORDER])


def checksum(payload: bytes | np.ndarray) -> int:
    """The DX7 sysex checksum of a payload: the low 7 bits of the two's complement of its byte sum.

    The payload bytes and the checksum add up to a multiple of 128:

    >>> checksum(bytes([1, 2, 3]))
    122
    >>> (1 + 2 + 3 + 122) % 128
    0
    """
    return int(-int(np.asarray(bytearray(payload) if isinstance(payload, bytes) else payload,
                               dtype=np.int64).sum()) & 0x7F)


# ------------------------------------------------------------------------------------------------ decoding
@dataclass
class DecodedVoices:
    """Voices decoded from one dump, before they become presets.

    Attributes:
        values: ``(N, 145)`` VCED values (byte order of a single-voice dump), in the DX7 ranges.
        names: The 10-character raw names.
        out_of_range: For each voice, ``(vced_byte, raw_value, value_kept)`` of every field that was out of range.
        reserved_bits: For each voice, whether bits outside any field were set (Dexed ignores them).
    """

    values: np.ndarray
    names: list[str]
    out_of_range: list[list[tuple[int, int, int]]]
    reserved_bits: list[bool]


def _bank_layout() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each VCED byte lives in a packed voice: (packed byte, right shift, mask), and the bits Dexed reads
    of each packed byte."""
    source = np.zeros(PARAMETER_COUNT, dtype=np.intp)
    shift = np.zeros(PARAMETER_COUNT, dtype=np.int16)
    mask = np.zeros(PARAMETER_COUNT, dtype=np.int16)
    used = np.full(PACKED_VOICE_SIZE, 0x7F, dtype=np.int16)

    def put(vced: int, packed: int, right: int, bits: int) -> None:
        source[vced], shift[vced], mask[vced] = packed, right, bits

    for op in range(6):
        s, d = op * 17, op * 21
        for i in range(11):  # envelope, break point, depths: Dexed copies the whole byte
            put(d + i, s + i, 0, 0xFF)
            used[s + i] = 0xFF
        put(d + 11, s + 11, 0, 0x03), put(d + 12, s + 11, 2, 0x03)  # left / right curve
        put(d + 13, s + 12, 0, 0x07), put(d + 20, s + 12, 3, 0x0F)  # rate scaling / detune
        put(d + 14, s + 13, 0, 0x03), put(d + 15, s + 13, 2, 0x07)  # amp-mod / velocity sensitivity
        put(d + 16, s + 14, 0, 0x7F)  # output level
        put(d + 17, s + 15, 0, 0x01), put(d + 18, s + 15, 1, 0x1F)  # oscillator mode / coarse
        put(d + 19, s + 16, 0, 0x7F)  # fine
        used[s + 11], used[s + 13], used[s + 15] = 0x0F, 0x1F, 0x3F
    for i in range(8):
        put(126 + i, 102 + i, 0, 0x7F)  # pitch envelope
    put(134, 110, 0, 0x1F)  # algorithm
    put(135, 111, 0, 0x07), put(136, 111, 3, 0x01)  # feedback / oscillator key sync
    for i in range(4):
        put(137 + i, 112 + i, 0, 0x7F)  # LFO speed, delay, depths
    put(141, 116, 0, 0x01), put(142, 116, 1, 0x07), put(143, 116, 4, 0x07)  # LFO sync / wave, pitch-mod sens.
    put(144, 117, 0, 0x7F)  # transpose
    used[110], used[111] = 0x1F, 0x0F
    return source, shift, mask, used


_BANK_SOURCE, _BANK_SHIFT, _BANK_MASK, _BANK_USED_BITS = _bank_layout()
_NAME_TABLE = {i: (chr(i) if 32 <= i < 127 else " ") for i in range(256)}


def _names(raw: np.ndarray) -> list[str]:
    text = (raw & 0x7F).astype(np.uint8).tobytes().decode("ascii")
    return [text[i:i + NAME_SIZE] for i in range(0, len(text), NAME_SIZE)]


def _problems_of(raw: np.ndarray, kept: np.ndarray) -> list[list[tuple[int, int, int]]]:
    bad = raw > _MAXIMA
    out: list[list[tuple[int, int, int]]] = [[] for _ in range(raw.shape[0])]
    for v, c in zip(*np.nonzero(bad)):
        out[v].append((int(c), int(raw[v, c]), int(kept[v, c])))
    return out


def unpack_voices(packed: np.ndarray) -> DecodedVoices:
    """Decode ``(N, 128)`` packed bank voices as ``dexed.Patch.from_packed(...).to_sysex()`` does.

    Bit 7 of each packed byte and the bits outside each packed field are ignored (masked), except in the 11
    envelope / scaling bytes of each operator, which Dexed copies whole: values there above 99 are clamped to 99.
    Other fields above their maximum (detune 15, output level / fine frequency / LFO bytes above 99, LFO wave 6-7,
    transpose above 48) are clamped; pitch-envelope bytes above 99 are rescaled to ``int(v / 255 * 99)`` as
    Dexed's ``normparm`` does.
    """
    p = np.asarray(packed, dtype=np.int16).reshape(-1, PACKED_VOICE_SIZE)
    raw = (p[:, _BANK_SOURCE] >> _BANK_SHIFT) & _BANK_MASK
    reserved = (p & ~_BANK_USED_BITS).any(axis=1)
    kept = np.minimum(raw, _MAXIMA)
    pitch = raw[:, _PITCH_EG]
    kept[:, _PITCH_EG] = np.where(pitch > 99, (pitch.astype(np.float64) / 255 * 99).astype(np.int16), pitch)
    return DecodedVoices(kept, _names(p[:, 118:128]), _problems_of(raw, kept), reserved.tolist())


#: Bit masks Dexed applies to single-voice (VCED) bytes before clamping (``Patch.from_sysex``).
_VCED_MASKS = np.full(PARAMETER_COUNT, 0xFF, dtype=np.int16)
for _op in range(6):
    _d = _op * 21
    for _offset, _mask in ((11, 0x03), (12, 0x03), (13, 0x07), (14, 0x03), (15, 0x07), (17, 0x01), (18, 0x1F),
                           (20, 0x0F)):
        _VCED_MASKS[_d + _offset] = _mask
for _byte, _mask in ((134, 0x1F), (135, 0x07), (136, 0x01), (141, 0x01), (142, 0x07), (143, 0x07)):
    _VCED_MASKS[_byte] = _mask


def decode_vced(data: np.ndarray) -> DecodedVoices:
    """Decode ``(N, 155)`` unpacked single-voice bytes as ``dexed.Patch.from_sysex(...).to_sysex()`` does.

    Dexed keeps the low bits of the narrow fields (curves, rate scaling, sensitivities, oscillator mode, coarse
    frequency, detune, algorithm, feedback, key sync, LFO sync / wave, pitch-mod sensitivity) and clamps every
    field to its range; an out-of-range byte is reported with the value Dexed ends up with.
    """
    d = np.asarray(data, dtype=np.int16).reshape(-1, VOICE_PAYLOAD_SIZE)
    raw = d[:, :PARAMETER_COUNT]
    kept = np.minimum(raw & _VCED_MASKS, _MAXIMA)
    reserved = (d[:, PARAMETER_COUNT:] & ~0x7F).any(axis=1)
    return DecodedVoices(kept, _names(d[:, PARAMETER_COUNT:]), _problems_of(raw, kept), reserved.tolist())


# ------------------------------------------------------------------------------------------------ framing
@dataclass
class _Dump:
    kind: str  # "bank" or "voice"
    offset: int
    payload: bytes
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, message, action)


def _classify(data: bytes, start: int) -> str | None:
    header = data[start:start + 4]
    if len(header) < 4 or header[1] != YAMAHA or header[2] & 0xF0 != 0:
        return None
    return {BANK_FORMAT: "bank", VOICE_FORMAT: "voice"}.get(header[3])


def _frame(data: bytes, start: int, kind: str) -> tuple[_Dump, int]:
    """Cut the dump starting at ``start``; return it and the position after it."""
    expected = BANK_MESSAGE_SIZE if kind == "bank" else VOICE_MESSAGE_SIZE
    payload_size = expected - HEADER_SIZE - 2
    count = BANK_BYTE_COUNT if kind == "bank" else VOICE_BYTE_COUNT
    header = data[start:start + HEADER_SIZE]
    problems: list[tuple[str, str, str]] = []
    if header[4:6] != count:
        problems.append(("variant-header", f"header {header.hex(' ').upper()} (byte count "
                         f"{header[4:6].hex(' ').upper()}, expected {count.hex(' ').upper()})", "read anyway"))
    end = start + expected - 1
    if end < len(data) and data[end] == SYSEX_END:
        body = data[start + HEADER_SIZE:end]
        after = end + 1
    else:
        # The dump ends at the first F7, or where the next message starts, or at the end of the file.
        next_start = data.find(SYSEX_START, start + 1)
        limit = len(data) if next_start == -1 else next_start
        end_byte = data.find(SYSEX_END, start + HEADER_SIZE, limit)
        stop = limit if end_byte == -1 else end_byte
        terminated = stop < len(data) and data[stop] == SYSEX_END
        body = data[start + HEADER_SIZE:stop]
        after = stop + 1 if terminated else stop
        size = after - start
        problems.append(("wrong-size", f"{kind} dump at byte {start} is {size} bytes long, expected {expected}"
                         + ("" if terminated else " (no F7 end byte)"), "read every complete voice"))
    payload = body[:payload_size]
    stored = body[payload_size] if len(body) > payload_size else None
    if stored is not None and len(payload) == payload_size:
        actual = checksum(payload)
        if stored != actual:
            problems.append(("bad-checksum", f"{kind} dump at byte {start}: checksum 0x{stored:02X}, "
                             f"computed 0x{actual:02X}", "read anyway"))
    return _Dump(kind, start, bytes(payload), problems), after


def split_dumps(data: bytes) -> tuple[list[_Dump], list[tuple[str, str, str]]]:
    """Find every DX7 voice dump in ``data``; also return file-level problems (junk, other messages)."""
    dumps: list[_Dump] = []
    problems: list[tuple[str, str, str]] = []
    junk = other = 0
    pos = 0
    while pos < len(data):
        start = data.find(SYSEX_START, pos)
        if start == -1:
            junk += len(data) - pos
            break
        junk += start - pos
        kind = _classify(data, start)
        if kind is None:  # another message: skip to its end, or to where the next one starts
            next_start = data.find(SYSEX_START, start + 1)
            limit = len(data) if next_start == -1 else next_start
            stop = data.find(SYSEX_END, start + 1, limit)
            pos = limit if stop == -1 else stop + 1
            other += 1
            continue
        dump, pos = _frame(data, start, kind)
        dumps.append(dump)
    if dumps and junk:
        problems.append(("junk", f"{junk} bytes outside sysex messages", "ignored"))
    if dumps and other:
        problems.append(("other-message", f"{other} sysex messages that are not DX7 voice dumps "
                         "(parameter changes, performances, supplements...)", "ignored"))
    return dumps, problems


#: Share of a packed voice's parameter bytes that are below 0x20 in real banks (at least ~45%, as the many
#: small fields show) and in text (~1-2%); headerless data below this share is not taken for voices.
MIN_SMALL_BYTE_SHARE = 0.2


def _looks_like_voices(payload: bytes) -> bool:
    voices = np.frombuffer(payload, dtype=np.uint8).reshape(-1, PACKED_VOICE_SIZE)[:, :118]
    return bool((voices < 0x20).mean() >= MIN_SMALL_BYTE_SHARE)


def _headerless(data: bytes, path: str) -> tuple[list[_Dump], list[tuple[str, str, str]]]:
    banks = len(data) // BANK_PAYLOAD_SIZE
    dumps: list[_Dump] = []
    problems = [("headerless", f"no sysex header: read as {banks} raw 4096-byte bank payload(s)", "read anyway")]
    for i in range(banks):
        payload = data[i * BANK_PAYLOAD_SIZE:(i + 1) * BANK_PAYLOAD_SIZE]
        if _looks_like_voices(payload):
            dumps.append(_Dump("bank", i * BANK_PAYLOAD_SIZE, payload))
        else:
            problems.append(("not-voice-data", f"bytes {i * BANK_PAYLOAD_SIZE}-{(i + 1) * BANK_PAYLOAD_SIZE - 1} "
                             "do not look like DX7 voice data (text or noise)", "skipped"))
    if not dumps:
        raise PresetFormatError(f"no sysex header and the {len(data)} bytes do not look like DX7 voice data", path)
    extra = len(data) - banks * BANK_PAYLOAD_SIZE
    if extra:
        problems.append(("wrong-size", f"{len(data)} bytes is not a multiple of 4096; the last {extra} bytes "
                         "are not voice data", "ignored"))
    return dumps, problems


# ------------------------------------------------------------------------------------------------ presets
def _label(vced_byte: int) -> str:
    return VCED_ORDER[vced_byte]


def _to_presets(voices: DecodedVoices, path: str, first_index: int, problems: list[ParseProblem]) -> list[Preset]:
    floats = voices.values[:, _VCED_INDEX].astype(np.float64).tolist()
    presets = []
    for v, (row, raw_name) in enumerate(zip(floats, voices.names)):
        index = first_index + v
        flags: list[str] = []
        fixes = voices.out_of_range[v]
        if fixes:
            changes = ", ".join(f"{_label(b)} {r} -> {k}" for b, r, k in fixes)
            flags.append(f"clamped: {changes}")
            problems.append(ParseProblem.model_construct(path=path, index=index, kind="out-of-range",
                                         message=f"values outside the DX7 range: {changes}",
                                         action="clamped and marked"))
        presets.append(Preset.model_construct(
            synth=SYNTH_ID, name=display_name(raw_name), values=dict(zip(_NAMES, row)), tags={},
            source=PresetSource.model_construct(path=path, index=index), extra={"raw_name": raw_name},
            flags=flags))
    reserved = [first_index + v for v, bad in enumerate(voices.reserved_bits) if bad]
    if reserved:
        problems.append(ParseProblem(
            path=path, kind="reserved-bits",
            message=f"{len(reserved)} voice(s) set bits outside any field (voices {_compact(reserved)})",
            action="ignored, as Dexed does"))
    return presets


def _compact(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:8])) + (", ..." if len(indices) > 8 else "")


def _problem(path: str, kind: str, message: str, action: str) -> ParseProblem:
    return ParseProblem.model_construct(path=path, index=None, kind=kind, message=message, action=action)


def display_name(raw_name: str) -> str:
    """A printable, stripped form of a 10-character DX7 voice name."""
    return raw_name.translate(_NAME_TABLE).strip()


def read_sysex(data: bytes, path: str | Path = "<bytes>") -> ParseResult:
    """Read every DX7 voice in ``data`` (the content of a sysex file).

    Args:
        data: The bytes of the file.
        path: Name of the file, used in presets' sources and in messages.

    Returns:
        The voices as presets (indexed in file order across all dumps) and every problem met.

    Raises:
        PresetFormatError: Not one voice can be read.
    """
    path = str(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PresetFormatError(f"expected bytes, got {type(data).__name__}", path)
    data = bytes(data)
    if not data:
        raise PresetFormatError("empty file", path)
    dumps, file_problems = split_dumps(data)
    if not dumps:
        if data[0] == SYSEX_START or len(data) < BANK_PAYLOAD_SIZE:
            first = data.find(SYSEX_START)
            seen = (f"; it holds sysex message(s) starting {data[first:first + 4].hex(' ').upper()}, "
                    "which are not DX7 voice dumps") if first != -1 else ""
            raise PresetFormatError(f"no DX7 voice dump found in {len(data)} bytes (expected a 32-voice bank "
                                    f"F0 43 0n 09, a single voice F0 43 0n 00 or a raw 4096-byte payload){seen}",
                                    path)
        dumps, file_problems = _headerless(data, path)
    problems = [_problem(path, *problem) for problem in file_problems]
    presets: list[Preset] = []
    for dump in dumps:
        problems.extend(_problem(path, *problem) for problem in dump.problems)
        size = PACKED_VOICE_SIZE if dump.kind == "bank" else VOICE_PAYLOAD_SIZE
        complete = len(dump.payload) // size
        expected = BANK_VOICES if dump.kind == "bank" else 1
        if complete < expected:
            problems.append(ParseProblem(
                path=path, kind="truncated",
                message=f"{dump.kind} dump at byte {dump.offset} holds {complete} complete voice(s) of {expected}",
                action=f"read {complete} voice(s), lost {expected - complete}"))
        if not complete:
            continue
        body = np.frombuffer(dump.payload[:complete * size], dtype=np.uint8).reshape(complete, size)
        voices = unpack_voices(body) if dump.kind == "bank" else decode_vced(body)
        presets.extend(_to_presets(voices, path, len(presets), problems))
    if not presets:
        reasons = "; ".join(p.message for p in problems[:3]) or "no voice data"
        if len(problems) > 3:
            reasons += f"; and {len(problems) - 3} more problems"
        raise PresetFormatError(f"no complete DX7 voice could be read ({reasons})", path)
    return ParseResult(path=path, parser="dx7-sysex", presets=presets, problems=problems)


def read_sysex_file(path: str | Path) -> ParseResult:
    """Read every DX7 voice of a sysex file (see :func:`read_sysex`).

    Raises:
        PresetFormatError: The file cannot be opened or holds no readable voice.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PresetFormatError(f"cannot read file: {exc.strerror or exc}", path) from None
    return read_sysex(data, path)


# ------------------------------------------------------------------------------------------------ encoding
def _raw_name(preset: Preset) -> bytes:
    raw = preset.extra.get("raw_name")
    if isinstance(raw, str) and len(raw) == NAME_SIZE and all(ord(c) < 128 for c in raw):
        return raw.encode("ascii")
    name = "".join(c if 32 <= ord(c) < 127 else "?" for c in preset.name)
    return name[:NAME_SIZE].ljust(NAME_SIZE).encode("ascii")


def preset_to_vced(preset: Preset) -> bytes:
    """The 155-byte VCED voice (145 parameters in DX7 ranges, then the 10-character name) of a Dexed preset.

    Parameters the preset does not set take their default; values are clamped to the DX7 ranges.

    Raises:
        PresetFormatError: The preset belongs to another synth or holds a value that is not a finite number.
    """
    if preset.synth != SYNTH_ID:
        raise PresetFormatError(f"preset {preset.name!r} belongs to synth {preset.synth!r}, not {SYNTH_ID!r}")
    try:
        native = preset.vector(_TABLE)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
        native = np.full(len(_TABLE), np.nan)
    if not np.all(np.isfinite(native)):
        bad = next(n for n in _TABLE.names if not _is_finite_number(preset.values.get(n, 0.0)))
        raise PresetFormatError(f"preset {preset.name!r}: {bad} = {_shown(preset.values[bad])} is not a finite "
                                "number")
    vced = _TABLE.clamp(native)[_VCED_COLUMNS].astype(np.int64)
    return bytes(vced.tolist()) + _raw_name(preset)


def vectors_to_vced(native: np.ndarray) -> np.ndarray:
    """The VCED parameter bytes (``(N, 145)`` uint8, no name) of ``(N, 145)`` native values in table order.

    The vectorised form of :func:`preset_to_vced` for many rows at once: the same clamping, the same bytes.
    Rows holding a value that is not a finite number come out clamped; callers check finiteness first.
    """
    rows = np.asarray(native, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != PARAMETER_COUNT:
        raise ValueError(f"expected (rows, {PARAMETER_COUNT}) native values, got shape {rows.shape}")
    clamped = _TABLE.clamp(np.nan_to_num(rows, nan=0.0))
    return clamped[:, _VCED_COLUMNS].astype(np.uint8)


def _shown(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (an integer of 5000 digits has no repr at all)."""
    try:
        text = repr(value)
    except ValueError:  # Python's limit on the digits of an integer
        return "an integer of thousands of digits"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_finite_number(value: object) -> bool:
    try:
        return bool(np.isfinite(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def pack_voice(vced: bytes) -> bytes:
    """Pack a 155-byte VCED voice into the 128 bytes a bank stores (inverse of :func:`unpack_voices`)."""
    u = vced
    packed = bytearray(PACKED_VOICE_SIZE)
    for op in range(6):
        s, d = op * 17, op * 21
        packed[s:s + 11] = u[d:d + 11]
        packed[s + 11] = (u[d + 11] & 0x03) | ((u[d + 12] & 0x03) << 2)
        packed[s + 12] = (u[d + 13] & 0x07) | ((u[d + 20] & 0x0F) << 3)
        packed[s + 13] = (u[d + 14] & 0x03) | ((u[d + 15] & 0x07) << 2)
        packed[s + 14] = u[d + 16]
        packed[s + 15] = (u[d + 17] & 0x01) | ((u[d + 18] & 0x1F) << 1)
        packed[s + 16] = u[d + 19]
    packed[102:111] = u[126:135]
    packed[111] = (u[135] & 0x07) | ((u[136] & 0x01) << 3)
    packed[112:116] = u[137:141]
    packed[116] = (u[141] & 0x01) | ((u[142] & 0x07) << 1) | ((u[143] & 0x07) << 4)
    packed[117:128] = u[144:155]
    return bytes(packed)


def init_voice() -> Preset:
    """Dexed's INIT VOICE (every parameter at its default), used to fill banks of fewer than 32 voices."""
    return Preset(synth=SYNTH_ID, name="INIT VOICE",
                  values={spec.name: spec.default for spec in DX7_PARAMETERS},
                  extra={"raw_name": "INIT VOICE"})


def encode_bank(presets: Sequence[Preset], channel: int = 0) -> bytes:
    """A 4104-byte 32-voice bulk dump of up to 32 presets (the rest filled with INIT VOICE).

    Raises:
        PresetFormatError: More than 32 presets (use :func:`write_banks`), or a preset cannot be encoded.
    """
    if len(presets) > BANK_VOICES:
        raise PresetFormatError(f"a DX7 bank holds 32 voices, got {len(presets)}; "
                                "split them (patchflow_dexed.sysex.write_banks writes one file per 32)")
    filler = init_voice()
    voices = list(presets) + [filler] * (BANK_VOICES - len(presets))
    payload = b"".join(pack_voice(preset_to_vced(p)) for p in voices)
    return bytes([SYSEX_START, YAMAHA, channel & 0x0F, BANK_FORMAT]) + BANK_BYTE_COUNT + payload + \
        bytes([checksum(payload), SYSEX_END])


def encode_voice(preset: Preset, channel: int = 0) -> bytes:
    """A 163-byte single-voice dump of one preset.

    Raises:
        PresetFormatError: The preset cannot be encoded.
    """
    payload = preset_to_vced(preset)
    return bytes([SYSEX_START, YAMAHA, channel & 0x0F, VOICE_FORMAT]) + VOICE_BYTE_COUNT + payload + \
        bytes([checksum(payload), SYSEX_END])


def _write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it: a failed write (read-only folder, disk full)
    leaves no half-written file, and an existing file as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PresetFormatError(f"cannot write file: {exc.strerror or exc}", path) from None
    return path


def write_bank(presets: Sequence[Preset], path: str | Path) -> Path:
    """Write up to 32 presets as one 32-voice bank file (see :func:`encode_bank`)."""
    return _write(Path(path), encode_bank(presets))


def write_voice(preset: Preset, path: str | Path) -> Path:
    """Write one preset as a single-voice file (see :func:`encode_voice`)."""
    return _write(Path(path), encode_voice(preset))


def write_banks(presets: Sequence[Preset], path: str | Path) -> list[Path]:
    """Write any number of presets as banks of 32: ``path`` itself when they fit in one, else
    ``<stem>-01.syx``, ``<stem>-02.syx``... beside it."""
    path = Path(path)
    chunks = [presets[i:i + BANK_VOICES] for i in range(0, len(presets), BANK_VOICES)] or [[]]
    if len(chunks) == 1:
        return [write_bank(chunks[0], path)]
    width = max(2, len(str(len(chunks))))
    return [write_bank(chunk, path.with_name(f"{path.stem}-{i:0{width}d}{path.suffix or '.syx'}"))
            for i, chunk in enumerate(chunks, start=1)]
