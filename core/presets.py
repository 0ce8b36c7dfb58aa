"""Presets: a named set of native parameter values for one synth, with where it came from.

Presets are plain data (pydantic models, JSON-serialisable) so they can travel between processes, stores and
files without pickles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .parameters import ParameterTable


class PresetSource(BaseModel):
    """Where a preset was read from: a file and, for multi-preset files (banks), its index inside it."""

    model_config = ConfigDict(frozen=True)

    path: str
    index: int | None = None

    def __str__(self) -> str:
        return self.path if self.index is None else f"{self.path}#{self.index}"


class Preset(BaseModel):
    """One preset.

    Attributes:
        synth: Id of the synth it belongs to (``dexed``, ``diva``...).
        name: Display name.
        values: Native value of every parameter the preset sets, by parameter name. Categorical values are class
            indices.
        tags: Free-form tags; tag *pairs* for semantic dimensions use ``{"Bright/Dark": "Bright"}``-style entries.
        source: Where the preset was read from, if from a file.
        extra: Format-specific data that is not a parameter but must survive a round trip (names, metadata...).
        flags: Notes from the parser about this preset (``"clamped: op1_detune 15 -> 14"``).
    """

    model_config = ConfigDict(extra="forbid")

    synth: str
    name: str = ""
    values: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, Any] = Field(default_factory=dict)
    source: PresetSource | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)

    def vector(self, table: ParameterTable, fill: np.ndarray | None = None) -> np.ndarray:
        """Native values in ``table`` order; parameters the preset does not set come from ``fill``
        (default: the specs' defaults)."""
        out = table.defaults() if fill is None else np.array(fill, dtype=np.float64, copy=True)
        for i, name in enumerate(table.names):
            if name in self.values:
                out[i] = self.values[name]
        return out

    def with_values(self, table: ParameterTable, native: np.ndarray, **changes: Any) -> "Preset":
        """A copy whose parameters in ``table`` take the given native values."""
        values = dict(self.values)
        values.update({name: float(v) for name, v in zip(table.names, np.asarray(native).tolist())})
        return self.model_copy(update={"values": values, **changes})


class ParseProblem(BaseModel):
    """Something a parser noticed about a file: an error that made it skip data, or a repair it made.

    Attributes:
        path: The file.
        index: The preset inside the file, if the problem concerns one.
        kind: Short machine-readable kind (``bad-checksum``, ``wrong-size``, ``out-of-range``...).
        message: What happened, for humans.
        action: What the parser did about it (``skipped``, ``clamped and marked``, ``read anyway``...).
    """

    path: str
    index: int | None = None
    kind: str
    message: str
    action: str = "skipped"


class ParseResult(BaseModel):
    """What a parser got out of one file: the presets it trusts and the problems it met."""

    path: str
    parser: str = ""
    presets: list[Preset] = Field(default_factory=list)
    problems: list[ParseProblem] = Field(default_factory=list)

    @property
    def skipped(self) -> bool:
        """True when nothing could be read from the file."""
        return not self.presets


def as_path(path: str | Path) -> Path:
    """Normalise a user-given path."""
    return Path(path).expanduser()
