"""Parameter specifications: what a synth knob is, and the exact map between its native and normalised values.

A :class:`ParameterSpec` is data (JSON-serialisable), never code. Every parameter maps to ``[0, 1]``:

* **continuous** parameters map linearly, ``u = (x - low) / (high - low)``; when the spec declares a ``step``
  (an integer grid such as the DX7's 0-99), the native value is snapped to the grid on the way back, so
  ``to_native(to_normalised(x)) == x`` exactly for every value on the grid;
* **categorical** parameters (``n`` choices) map class ``k`` to ``k / (n - 1)`` and back to the nearest class;
  models should treat them as classes (:meth:`ParameterSpec.cardinality`), not numbers;
* **boolean** parameters are categorical with the two choices ``False`` / ``True``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import UnknownParameterError


class ParameterKind(str, enum.Enum):
    """How a parameter's values are organised."""

    CONTINUOUS = "continuous"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"


NativeValue = float | int | bool | str


class ParameterSpec(BaseModel):
    """One synthesizer parameter.

    Attributes:
        name: Unique, stable identifier within its synth (``op1_output_level``).
        kind: Continuous, categorical or boolean.
        low: Smallest native value (continuous only).
        high: Largest native value (continuous only).
        step: Native grid spacing, if values live on a grid (e.g. ``1`` for 0-99 integer knobs).
        choices: Labels of the choices (categorical only), in native order: class ``k`` is ``choices[k]``.
        default: Native default value (a number, or the class index for categorical / boolean).
        unit: Unit label for display (``Hz``, ``s``, ``semitones``...), empty when unitless.
        midi_cc: MIDI continuous-controller number that drives the parameter, if any.
        group: Free-form grouping for display (``operator 1``, ``filter``...).
        description: One line for humans.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    kind: ParameterKind = ParameterKind.CONTINUOUS
    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    choices: tuple[str, ...] = ()
    default: float = 0.0
    unit: str = ""
    midi_cc: int | None = Field(default=None, ge=0, le=127)
    group: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _check_consistency(self) -> "ParameterSpec":
        if self.kind is ParameterKind.BOOLEAN and not self.choices:
            object.__setattr__(self, "choices", ("off", "on"))
        if self.kind is ParameterKind.CONTINUOUS:
            if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high <= self.low:
                raise ValueError(f"{self.name}: need finite low < high, got [{self.low}, {self.high}]")
            if self.step is not None and self.step <= 0:
                raise ValueError(f"{self.name}: step must be positive")
            if not self.low <= self.default <= self.high:
                raise ValueError(f"{self.name}: default {self.default} outside [{self.low}, {self.high}]")
        else:
            if len(self.choices) < 2:
                raise ValueError(f"{self.name}: a {self.kind.value} parameter needs at least two choices")
            if self.kind is ParameterKind.BOOLEAN and len(self.choices) != 2:
                raise ValueError(f"{self.name}: a boolean parameter has exactly two choices")
            if not (0 <= self.default < len(self.choices) and float(self.default).is_integer()):
                raise ValueError(f"{self.name}: default must be a class index in [0, {len(self.choices)})")
        return self

    # ----------------------------------------------------------------------------------------------------- facts
    @property
    def is_continuous(self) -> bool:
        """True for continuous parameters."""
        return self.kind is ParameterKind.CONTINUOUS

    @property
    def cardinality(self) -> int:
        """Number of classes for categorical / boolean parameters, 0 for continuous ones."""
        return 0 if self.is_continuous else len(self.choices)

    @property
    def native_low(self) -> float:
        """Smallest native value (class 0 for categorical parameters)."""
        return self.low if self.is_continuous else 0.0

    @property
    def native_high(self) -> float:
        """Largest native value (last class index for categorical parameters)."""
        return self.high if self.is_continuous else float(len(self.choices) - 1)

    # ------------------------------------------------------------------------------------------------- mapping
    def clamp(self, native: float) -> float:
        """Bring a native value into the valid range (and onto the grid / to a class index)."""
        value = min(max(float(native), self.native_low), self.native_high)
        if not self.is_continuous:
            return float(round(value))
        if self.step is not None:
            value = self.low + round((value - self.low) / self.step) * self.step
            value = min(max(value, self.low), self.high)
        return value

    def in_range(self, native: float) -> bool:
        """Whether a native value is valid as it is (in range, on the grid / a class index)."""
        return math.isfinite(float(native)) and self.clamp(native) == float(native)

    def to_normalised(self, native: float) -> float:
        """Map a native value to ``[0, 1]`` (out-of-range values are clamped first)."""
        value = self.clamp(native)
        return (value - self.native_low) / (self.native_high - self.native_low)

    def to_native(self, normalised: float) -> float:
        """Map a value in ``[0, 1]`` back to a native value (snapped to the grid or the nearest class)."""
        u = min(max(float(normalised), 0.0), 1.0)
        return self.clamp(self.native_low + u * (self.native_high - self.native_low))

    def label(self, native: float) -> str:
        """Human-readable form of a native value (the choice name for categorical parameters)."""
        if self.is_continuous:
            text = f"{native:g}"
            return f"{text} {self.unit}".strip()
        return self.choices[int(self.clamp(native))]


class ParameterTable(Sequence[ParameterSpec]):
    """An ordered, name-indexed collection of specs with vectorised native <-> normalised mapping."""

    def __init__(self, specs: Iterable[ParameterSpec]) -> None:
        self._specs: tuple[ParameterSpec, ...] = tuple(specs)
        self._index = {spec.name: i for i, spec in enumerate(self._specs)}
        if len(self._index) != len(self._specs):
            seen: set[str] = set()
            dupes = sorted({s.name for s in self._specs if s.name in seen or seen.add(s.name)})
            raise ValueError(f"duplicate parameter names: {', '.join(dupes)}")
        self._low = np.array([s.native_low for s in self._specs], dtype=np.float64)
        self._high = np.array([s.native_high for s in self._specs], dtype=np.float64)
        # Grid spacing per column: 1 for classes, the declared step on grids, 0 (no snapping) elsewhere.
        self._step = np.array([1.0 if not s.is_continuous else (s.step or 0.0) for s in self._specs],
                              dtype=np.float64)
        self._snapped = self._step > 0
        self._safe_step = np.where(self._snapped, self._step, 1.0)

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, item):  # type: ignore[override]
        if isinstance(item, str):
            return self._specs[self.index(item)]
        return self._specs[item]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def names(self) -> list[str]:
        """Parameter names in order."""
        return [s.name for s in self._specs]

    def index(self, name: str) -> int:  # type: ignore[override]
        """Position of a parameter; raises :class:`UnknownParameterError` with close matches."""
        try:
            return self._index[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, self._index, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownParameterError(f"unknown parameter {name!r}{hint}") from None

    def subset(self, names: Iterable[str]) -> "ParameterTable":
        """A table holding only ``names``, in the given order."""
        return ParameterTable(self[n] for n in names)

    def defaults(self) -> np.ndarray:
        """Native default values as a float64 vector."""
        return np.array([s.default for s in self._specs], dtype=np.float64)

    def clamp(self, native: np.ndarray) -> np.ndarray:
        """Clamp a ``(..., P)`` array of native values (element-wise :meth:`ParameterSpec.clamp`, vectorised)."""
        out = np.clip(np.asarray(native, dtype=np.float64), self._low, self._high)
        snapped = self._low + np.round((out - self._low) / self._safe_step) * self._safe_step
        return np.clip(np.where(self._snapped, snapped, out), self._low, self._high)

    def to_normalised(self, native: np.ndarray) -> np.ndarray:
        """Map ``(..., P)`` native values to ``[0, 1]``."""
        return (self.clamp(native) - self._low) / (self._high - self._low)

    def to_native(self, normalised: np.ndarray) -> np.ndarray:
        """Map ``(..., P)`` normalised values back to native values (grid-snapped, classes rounded)."""
        u = np.clip(np.asarray(normalised, dtype=np.float64), 0.0, 1.0)
        return self.clamp(self._low + u * (self._high - self._low))

    def to_json(self) -> list[dict]:
        """JSON-ready list of spec dictionaries."""
        return [s.model_dump(mode="json") for s in self._specs]

    @classmethod
    def from_json(cls, data: Iterable[dict]) -> "ParameterTable":
        """Inverse of :meth:`to_json`."""
        return cls(ParameterSpec.model_validate(d) for d in data)
