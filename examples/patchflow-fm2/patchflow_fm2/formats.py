"""Reading and writing FM2 (two-operator FM) preset files.

The format is JSON, one file per bank::

    {
      "format": "fm2-presets",
      "version": 1,
      "presets": [
        {"name": "Soft pad", "values": {"brightness": 0.2, "attack": 0.6}, "tags": {"category": "pad"}}
      ]
    }

Parameters a preset leaves out take their defaults. The reader never trusts a file blindly: an unknown parameter
or a value that is not a number skips that preset, an out-of-range value is clamped and the preset is flagged;
each case is reported as a :class:`patchflow.ParseProblem`. Replace this module with a reader for your synth's
own format, keeping that behaviour.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patchflow import ParameterTable, ParseProblem, ParseResult, Preset, PresetFormatError, PresetSource

from .synth import PARAMETERS, SYNTH_ID

#: The value of the ``format`` field that marks a file as ours.
FORMAT = f"{SYNTH_ID}-presets"
VERSION = 1


class JsonPresetParser:
    """Reads ``fm2-presets`` JSON files (see the module docstring)."""

    name = f"{SYNTH_ID}-json"
    synth = SYNTH_ID

    def recognises(self, path: Path, head: bytes) -> bool:
        """Claim ``.json`` files whose first bytes name our format."""
        return path.suffix.lower() == ".json" and f'"{FORMAT}"'.encode() in head

    def parse(self, path: Path) -> ParseResult:
        """Read every valid preset of the file and report the others.

        Raises:
            PresetFormatError: The file is not JSON or not a ``fm2-presets`` document.
        """
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PresetFormatError(f"not a readable JSON file ({exc})", path) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise PresetFormatError(f'not a {FORMAT} file (its "format" field must be "{FORMAT}")', path)
        if document.get("version") != VERSION:
            raise PresetFormatError(f"unsupported version {document.get('version')!r} (this reader knows "
                                    f"version {VERSION})", path)
        entries = document.get("presets")
        if not isinstance(entries, list):
            raise PresetFormatError('"presets" must be a list', path)
        result = ParseResult(path=str(path), parser=self.name)
        table = ParameterTable(PARAMETERS)
        for index, entry in enumerate(entries):
            preset = _read_preset(entry, table, Path(path), index, result.problems)
            if preset is not None:
                result.presets.append(preset)
        return result


def _read_preset(entry: Any, table: ParameterTable, path: Path, index: int,
                 problems: list[ParseProblem]) -> Preset | None:
    """One preset of the file, or ``None`` (with a problem recorded) when it cannot be trusted."""

    def problem(kind: str, message: str, action: str = "skipped") -> None:
        problems.append(ParseProblem(path=str(path), index=index, kind=kind, message=message, action=action))

    if not isinstance(entry, dict) or not isinstance(entry.get("values", {}), dict):
        problem("bad-entry", 'a preset must be an object with a "values" object')
        return None
    values: dict[str, float] = {}
    flags: list[str] = []
    for name, raw in entry.get("values", {}).items():
        if name not in table:
            problem("unknown-parameter", f"unknown parameter {name!r}")
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            problem("bad-value", f"{name} = {raw!r} is not a finite number")
            return None
        spec = table[name]
        value = spec.clamp(raw)
        if value != raw:
            flags.append(f"clamped: {name} {raw:g} -> {value:g}")
            problem("out-of-range", f"{name} = {raw:g} is outside its range", f"clamped to {value:g} and flagged")
        values[name] = value
    tags = entry.get("tags", {})
    return Preset(synth=SYNTH_ID, name=str(entry.get("name") or f"preset {index}"), values=values,
                  tags=tags if isinstance(tags, dict) else {}, source=PresetSource(path=str(path), index=index),
                  flags=flags)


class JsonPresetWriter:
    """Writes presets as a ``fm2-presets`` JSON file that :class:`JsonPresetParser` reads back."""

    name = f"{SYNTH_ID}-json"
    synth = SYNTH_ID
    suffixes = (".json",)

    def write(self, presets: Sequence[Preset], path: Path) -> Path:
        """Write ``presets`` to ``path`` (created or replaced) and return it."""
        document = {
            "format": FORMAT,
            "version": VERSION,
            "presets": [{"name": p.name, "values": p.values, "tags": p.tags} for p in presets],
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return path
