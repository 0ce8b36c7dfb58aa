"""The abstract synthesizer every adapter implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import PatchflowError, RenderError
from .parameters import ParameterSpec, ParameterTable
from .presets import Preset


#: The longest recording :class:`RenderSettings` accepts, in seconds (one note; a longer one is a typo, and its
#: buffer would not fit in memory: an hour at 22050 Hz is 318 MB of float32).
MAX_TOTAL_SECONDS = 600.0
#: The highest sample rate :class:`RenderSettings` accepts, in Hz.
MAX_SAMPLE_RATE = 768_000


@dataclass(frozen=True)
class RenderSettings:
    """How one note is played and recorded (SPEC: note held 3 s, 4 s recorded, 22050 Hz).

    Every field is checked when the settings are made (:class:`ValueError` naming the field): whole numbers for
    the note, velocity and sample rate, finite seconds (no NaN or infinity), ``0 < note_seconds <= total_seconds
    <=`` :data:`MAX_TOTAL_SECONDS`, a sample rate up to :data:`MAX_SAMPLE_RATE`, at least one sample.

    Attributes:
        note: MIDI note number.
        velocity: MIDI velocity, 1-127.
        note_seconds: How long the key is held.
        total_seconds: Length of the recording (the release continues after ``note_seconds``).
        sample_rate: Output sample rate in Hz.
    """

    note: int = 60
    velocity: int = 100
    note_seconds: float = 3.0
    total_seconds: float = 4.0
    sample_rate: int = 22050

    def __post_init__(self) -> None:
        for name in ("note", "velocity", "sample_rate"):
            value = getattr(self, name)
            if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
                object.__setattr__(self, name, int(value))  # 22050.0 read back from a file
            elif isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        for name in ("note_seconds", "total_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        if not 0 <= self.note <= 127:
            raise ValueError(f"note must be a MIDI note 0-127, got {self.note}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be 1-127, got {self.velocity}")
        if not 0 < self.note_seconds <= self.total_seconds:
            raise ValueError(f"need 0 < note_seconds <= total_seconds, got note_seconds={self.note_seconds:g}, "
                             f"total_seconds={self.total_seconds:g}")
        if not 0 < self.sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be 1-{MAX_SAMPLE_RATE} Hz, got {self.sample_rate}")
        if self.total_seconds > MAX_TOTAL_SECONDS:
            raise ValueError(f"total_seconds must be at most {MAX_TOTAL_SECONDS:g} (one note), "
                             f"got {self.total_seconds:g}")
        if self.num_samples < 1:
            raise ValueError(f"total_seconds={self.total_seconds:g} at {self.sample_rate} Hz is not one sample")

    @property
    def num_samples(self) -> int:
        """Samples in one rendering."""
        return int(round(self.total_seconds * self.sample_rate))


class Synth(ABC):
    """A synthesizer patchflow can learn: parameter specs, a default preset, and a renderer.

    Subclasses set :attr:`id` and :attr:`display_name` and implement :meth:`parameter_specs`,
    :meth:`default_preset` and :meth:`render`. A ``Synth`` instance need not be thread-safe: parallel code creates
    one instance per worker (instances must therefore be cheap to create, or create their engine lazily).
    """

    #: Stable identifier used on the command line and in stores (``dexed``).
    id: str = ""
    #: Human-readable name (``Dexed (DX7)``).
    display_name: str = ""

    @abstractmethod
    def parameter_specs(self) -> Sequence[ParameterSpec]:
        """Every parameter of the synth, in a fixed order."""

    @cached_property
    def parameters(self) -> ParameterTable:
        """The parameter specs as a name-indexed :class:`ParameterTable`."""
        return ParameterTable(self.parameter_specs())

    def default_preset(self) -> Preset:
        """A preset that makes sound; the base for parameters a dataset does not learn."""
        return Preset(synth=self.id, name="default", values=dict(zip(self.parameters.names,
                                                                     self.parameters.defaults().tolist())))

    @abstractmethod
    def render(self, preset: Preset, settings: RenderSettings) -> np.ndarray:
        """Play one note with ``preset`` as ``settings`` say: mono float32 audio of ``settings.num_samples`` samples.

        ``settings`` is already valid (:class:`RenderSettings` checks its fields when it is made), so an adapter
        only plays it.

        Raises:
            RenderError: The synth cannot render this preset.
        """

    def render_vectors(self, native: np.ndarray, settings: RenderSettings) -> Iterator[np.ndarray | RenderError]:
        """Play one note per row of native values: the dataset builder's way of rendering.

        Args:
            native: ``(N, P)`` native values of every parameter, in :attr:`parameters` order.
            settings: How each note is played.

        Yields:
            For each row, in order, its audio (as :meth:`render` returns it) or the :class:`RenderError` that row
            raised: one bad row never stops the others.

        The default builds a :class:`Preset` per row and calls :meth:`render`. Adapters whose engine takes
        arrays override it to skip the preset objects; the override must give the same audio (the adapter test
        suite checks it).
        """
        rows = np.asarray(native, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.parameters):
            raise ValueError(f"expected (rows, {len(self.parameters)}) native values, got shape {rows.shape}")
        names = self.parameters.names
        unusable = self.non_finite_rows(rows)
        for i, row in enumerate(rows):
            if i in unusable:
                yield unusable[i]
                continue
            preset = Preset(synth=self.id, name=f"row {i}", values=dict(zip(names, row.tolist())))
            try:
                yield self.render(preset, settings)
            except RenderError as exc:
                yield exc
            except PatchflowError as exc:  # a preset the synth rejects is a row it cannot render
                yield RenderError(str(exc))

    def non_finite_rows(self, rows: np.ndarray) -> dict[int, RenderError]:
        """The errors :meth:`render_vectors` yields for the rows of ``rows`` holding NaN or infinity, by row index.

        One vectorised check for a whole batch (empty when every value is finite), so an override of
        :meth:`render_vectors` pays nothing per row for it.
        """
        values = np.asarray(rows, dtype=np.float64)
        finite = np.isfinite(values)
        errors: dict[int, RenderError] = {}
        for index in np.flatnonzero(~finite.all(axis=1)):
            column = int(np.flatnonzero(~finite[index])[0])
            errors[int(index)] = RenderError(f"row {index}: {self.parameters.names[column]} = "
                                             f"{values[index, column]} is not a finite number")
        return errors

    def close(self) -> None:
        """Release engine resources (plugins, threads). The default does nothing."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"
