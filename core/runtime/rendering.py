"""Rendering candidate parameters: learned values over a base preset, played on a :class:`~patchflow.data.render.SynthPool`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..data.render import SynthPool
from ..parameters import ParameterTable
from ..presets import Preset
from ..synth import RenderSettings


def presets_from_normalised(base: Preset, table: ParameterTable, params: np.ndarray,
                            names: Sequence[str] | None = None) -> list[Preset]:
    """Presets that take ``base``'s values and the learned parameters ``params`` ``(N, P)`` in ``[0, 1]``.

    Values are mapped to native units through the specs (grid-snapped, clamped, classes rounded). The new presets
    carry the given names (the base's raw name bytes, kept by some formats for round trips, are dropped).
    """
    native = table.to_native(np.atleast_2d(params))
    names = names or [f"{base.name or 'preset'} {i + 1}" for i in range(len(native))]
    extra = {k: v for k, v in base.extra.items() if k != "raw_name"}
    return [base.with_values(table, row, name=name, source=None, flags=[], extra=extra)
            for row, name in zip(native, names)]


def render_normalised(pool: SynthPool, settings: RenderSettings, base: Preset, table: ParameterTable,
                      params: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Audio ``(N, samples)`` of learned parameters ``params`` ``(N, P)`` in ``[0, 1]`` over ``base``.

    Raises:
        RenderError: A candidate could not be rendered.
    """
    return pool.render(presets_from_normalised(base, table, params), settings, progress)
