"""Plugins that ship with patchflow itself, registered through the same hooks as external ones.

The JSON preset format lives here: a ``.json`` file (by convention ``*.preset.json``) holding one
:class:`~patchflow.Preset` object or a list of them, exactly as :meth:`pydantic.BaseModel.model_dump` writes them.
It works for any synth, so adapters whose synths have no preset format of their own (VST3 instruments) can store
presets with no extra code::

    {"synth": "dexed", "name": "BRASS 1", "values": {"algorithm": 21, "feedback": 7, ...}, "tags": {}}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import PresetFormatError
from .hookspecs import hookimpl
from .presets import ParseProblem, ParseResult, Preset, PresetSource
from .registries import ANY_SYNTH

JSON_FORMAT = "patchflow-json"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "preset"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {error['msg']}{more}"


#: Integers of up to this many digits are below 1e308 and fit a float; longer ones are converted as floats.
_FLOAT_DIGITS = 308


def _parse_int(text: str) -> int | float:
    """An integer of the JSON text. A longer one is read as a float (infinite when too large for one: preset
    values are floats), since Python refuses to convert integers of more than 4300 digits at all."""
    if len(text.lstrip("-")) <= _FLOAT_DIGITS:
        return int(text)
    return float(text)


def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


class JsonPresetParser:
    """Reads presets of any synth from JSON: one preset object or a list of them.

    Items that are not valid presets are reported and skipped; the others are read. Each preset's ``source`` is
    set to the JSON file and its position in it.
    """

    name = JSON_FORMAT
    synth = ANY_SYNTH

    def recognises(self, path: Path, head: bytes) -> bool:
        """Claim ``*.preset.json`` files, and ``.json`` files whose start looks like patchflow presets."""
        name = path.name.lower()
        if name.endswith(".preset.json"):
            return True
        if not name.endswith(".json"):
            return False
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return text[:1] in (b"{", b"[") and b'"synth"' in head

    def parse(self, path: Path) -> ParseResult:
        """Read every valid preset of the file.

        Raises:
            PresetFormatError: The file cannot be read, is not JSON, or holds no valid preset.
        """
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise PresetFormatError(f"cannot read JSON presets: {exc}", path) from None
        return self.parse_text(text, str(path))

    def parse_text(self, text: str, path: str = "<text>") -> ParseResult:
        """Read presets from JSON text (``path`` labels them in sources and messages).

        Numbers too large for a float (``1e400``, an integer of 400 digits or of more digits than Python converts)
        are read as infinite and reported like NaN, as values that are not finite numbers.

        Raises:
            PresetFormatError: The text is not JSON or holds no valid preset.
        """
        try:
            return self._parse_text(text, path)
        except PresetFormatError:
            raise
        except Exception as exc:  # a bug here must cost one file, not the caller's whole corpus
            raise PresetFormatError(f"cannot read JSON presets: {_first_line(exc)}", path) from None

    def _parse_text(self, text: str, path: str) -> ParseResult:
        try:
            data: Any = json.loads(text, parse_int=_parse_int)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise PresetFormatError(f"not valid JSON: {exc}", path) from None
        except (ValueError, OverflowError, MemoryError) as exc:  # numbers Python refuses to convert
            raise PresetFormatError(f"not valid JSON: {_first_line(exc)}", path) from None
        items = data if isinstance(data, list) else [data]
        presets: list[Preset] = []
        problems: list[ParseProblem] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                problems.append(ParseProblem(path=path, index=index, kind="not-a-preset",
                                             message=f"expected a JSON object, got {type(item).__name__}"))
                continue
            try:
                preset = Preset.model_validate(item)
            except ValidationError as exc:
                problems.append(ParseProblem(path=path, index=index, kind="invalid-preset",
                                             message=_first_error(exc)))
                continue
            bad = sorted(name for name, value in preset.values.items() if not math.isfinite(value))
            if bad:
                problems.append(ParseProblem(path=path, index=index, kind="not-finite",
                                             message=f"values that are not finite numbers (NaN, infinite or "
                                                     f"too large for a float): {_names(bad)}"))
                continue
            presets.append(preset.model_copy(update={"source": PresetSource(path=path, index=index)}))
        if not presets:
            reasons = "; ".join(p.message for p in problems[:3]) or "the file holds no preset"
            raise PresetFormatError(f"no valid preset in JSON ({reasons})", path)
        return ParseResult(path=path, parser=self.name, presets=presets, problems=problems)


class JsonPresetWriter:
    """Writes presets of any synth as JSON: an object for one preset, a list for several.

    Files are written atomically (to a temporary file that then replaces the target).
    """

    name = JSON_FORMAT
    synth = ANY_SYNTH
    suffixes = (".json",)

    def write(self, presets: Sequence[Preset], path: Path) -> Path:
        """Write ``presets`` to ``path`` and return it.

        Raises:
            PresetFormatError: No presets, a value that JSON cannot hold (NaN, infinity), or an unwritable path.
        """
        path = Path(path)
        if not presets:
            raise PresetFormatError("no presets to write", path)
        items = [p.model_dump(mode="json") for p in presets]
        try:
            text = json.dumps(items[0] if len(items) == 1 else items, indent=1, allow_nan=False)
        except ValueError as exc:
            raise PresetFormatError(f"presets hold values JSON cannot store: {exc}", path) from None
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            raise PresetFormatError(f"cannot write file: {exc.strerror or exc}", path) from None
        return path


@hookimpl
def register_preset_parsers(register):
    """Register the JSON preset reader."""
    register(JsonPresetParser())


@hookimpl
def register_preset_writers(register):
    """Register the JSON preset writer."""
    register(JsonPresetWriter())
