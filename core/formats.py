"""Contracts for the objects plugins register to read and write preset files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from .presets import ParseResult, Preset


@runtime_checkable
class PresetParser(Protocol):
    """Reads one preset file format.

    Attributes:
        name: Unique name of the format reader (``dx7-sysex``).
        synth: Id of the synth the presets belong to.
    """

    name: str
    synth: str

    def recognises(self, path: Path, head: bytes) -> bool:
        """Whether this parser claims the file (``head``: its first 4096 bytes). Must not raise."""
        ...

    def parse(self, path: Path) -> ParseResult:
        """Read every trustworthy preset in the file and report the problems met.

        Raises:
            PresetFormatError: Nothing could be read from the file.
        """
        ...


@runtime_checkable
class PresetWriter(Protocol):
    """Writes presets in a synth's native format.

    Attributes:
        name: Unique name of the writer (``dx7-bank``).
        synth: Id of the synth.
        suffixes: File suffixes it writes (``(".syx",)``).
    """

    name: str
    synth: str
    suffixes: tuple[str, ...]

    def write(self, presets: Sequence[Preset], path: Path) -> Path:
        """Write ``presets`` to ``path`` and return the path written."""
        ...
