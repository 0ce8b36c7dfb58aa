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


def lift_normalised(params: np.ndarray, table: ParameterTable, space: ParameterTable, base: Preset) -> np.ndarray:
    """Normalised parameters ``(N, P)`` of ``table`` as vectors ``(N, S)`` of a larger ``space``: ``base``'s values
    for the parameters of ``space`` that ``table`` leaves out.

    A model learns a few parameters over a base preset; a search over whole voices (a retrieval index of full
    voices) places its proposals in the voice space this way, where they play exactly as before.

    Raises:
        KeyError: A parameter of ``table`` is not in ``space``.
    """
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    if list(table.names) == list(space.names):
        return params
    columns = np.array([space.index(name) for name in table.names], dtype=np.int64)
    native = np.repeat(base.vector(space)[None], len(params), axis=0)
    native[:, columns] = table.to_native(params)
    return space.to_normalised(native)
