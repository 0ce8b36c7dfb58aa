"""The DX7 text format and its reader.

A file starts with the marker line ``; dx7-text`` and holds one INI section per voice::

    ; dx7-text
    [Glass bell]
    algorithm = algorithm 5
    op2_frequency_coarse = 3

Parameter names are those of the ``dexed`` synth (``patchflow synths``, or the Dexed guide). A value is a number
in native units, or for a categorical parameter its label. The reader keeps every voice it can trust and reports
the rest: an unknown parameter or an unreadable value skips the voice; an out-of-range number is clamped to the
DX7 range and the voice is flagged.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from patchflow import ParameterSpec, ParameterTable, ParseProblem, ParseResult, Preset, PresetFormatError, PresetSource
from patchflow.errors import UnknownParameterError
from patchflow.plugins import get_synth_class

MARKER = b"; dx7-text"
SUFFIX = ".dx7.txt"


class Dx7TextParser:
    """Reads ``.dx7.txt`` files into presets for the ``dexed`` synth."""

    name = "dx7-text"
    synth = "dexed"

    def recognises(self, path: Path, head: bytes) -> bool:
        """Claim files named ``*.dx7.txt`` or starting with the ``; dx7-text`` marker."""
        return path.name.lower().endswith(SUFFIX) or head.lstrip().startswith(MARKER)

    def parse(self, path: Path) -> ParseResult:
        """Read every trustworthy voice of the file.

        Raises:
            PresetFormatError: The file is not readable text, or not INI-structured.
        """
        reader = configparser.ConfigParser(interpolation=None, delimiters=("=",), comment_prefixes=(";", "#"),
                                           default_section="\x00no default section")
        reader.optionxform = str  # parameter names are case-sensitive
        try:
            reader.read_string(Path(path).read_text(encoding="utf-8"), source=str(path))
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            raise PresetFormatError(f"not a DX7 text file ({exc})", path) from None
        table = get_synth_class(self.synth)().parameters
        result = ParseResult(path=str(path), parser=self.name)
        for index, voice in enumerate(reader.sections()):
            preset = self._read_voice(reader[voice], table, Path(path), index, result.problems)
            if preset is not None:
                result.presets.append(preset)
        if not result.presets and not result.problems:
            raise PresetFormatError("no [voice] section found", path)
        return result

    def _read_voice(self, section: configparser.SectionProxy, table: ParameterTable, path: Path, index: int,
                    problems: list[ParseProblem]) -> Preset | None:
        """One voice, or ``None`` (with the reason added to ``problems``) when a line cannot be read."""
        values: dict[str, float] = {}
        flags: list[str] = []
        for key, text in section.items():
            try:
                spec = table[key]
                raw = _value(spec, text)
            except (UnknownParameterError, ValueError) as exc:
                problems.append(ParseProblem(path=str(path), index=index, kind="bad-line",
                                             message=f"[{section.name}] {key} = {text}: {exc}"))
                return None
            values[key] = spec.clamp(raw)
            if values[key] != raw:
                flags.append(f"clamped: {key} {raw:g} -> {values[key]:g}")
                problems.append(ParseProblem(path=str(path), index=index, kind="out-of-range",
                                             message=f"[{section.name}] {key} = {raw:g} is outside the DX7 range",
                                             action=f"clamped to {values[key]:g} and flagged"))
        return Preset(synth=self.synth, name=section.name, values=values, flags=flags,
                      source=PresetSource(path=str(path), index=index))


def _value(spec: ParameterSpec, text: str) -> float:
    """The native value written as ``text``: a choice label (categorical parameters) or a number.

    Raises:
        ValueError: ``text`` is neither.
    """
    labels = {label.lower(): k for k, label in enumerate(spec.choices)}
    if text.strip().lower() in labels:
        return float(labels[text.strip().lower()])
    try:
        value = float(text)
    except ValueError:
        hint = f" (one of: {', '.join(spec.choices)})" if spec.choices else ""
        raise ValueError(f"not a number{hint}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value
