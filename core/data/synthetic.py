"""Presets a build adds to the training split without reading them from a file.

Two kinds, each named in the store's ``sources`` column so that the split stage can tell them from real voices:

- **random** (``random#K``): every learned parameter drawn uniformly over its range, filling the space between
  the corpus's voices;
- **perturbed** (``perturbed#K@ROW``): a real voice of the store (row ``ROW``) with Gaussian noise of standard
  deviation ``scale`` added to each learned parameter in the normalised ``[0, 1]`` space, clipped and snapped to
  the parameter's grid: new presets near the voices people made. A perturbed preset trains only when its parent
  voice trains; the others are left out of every split, so that no variant of a held-out voice is learned.

Both are seeded from the build's seed, so a rebuild draws the same presets.
"""

from __future__ import annotations

import numpy as np

from ..parameters import ParameterTable
from .splits import EXCLUDED, SPLIT_CODES

#: The ``sources`` entry of presets drawn uniformly (``random#K``).
RANDOM_SOURCE = "random"
#: The ``sources`` entry of presets perturbed around a real voice (``perturbed#K@ROW``).
PERTURBED_SOURCE = "perturbed"


def uniform_presets(table: ParameterTable, count: int, seed: int) -> np.ndarray:
    """``(count, P)`` native values drawn uniformly over each learned parameter's range (grid-snapped)."""
    return table.to_native(np.random.default_rng([seed, 1]).uniform(size=(count, len(table))))


def perturbed_presets(table: ParameterTable, voices: np.ndarray, count: int, scale: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` presets near the real ``voices`` (``(V, P)`` native values): each draws a parent voice uniformly
    and moves every learned parameter by ``N(0, scale^2)`` in normalised units (clipped to ``[0, 1]``, then
    snapped to the grid, so a switch changes only when the noise crosses half its range).

    Returns:
        ``(native, parents)``: the ``(count, P)`` native values and the row of each one's parent in ``voices``.
    """
    if not len(voices):
        raise ValueError("perturbed presets need at least one real voice")
    rng = np.random.default_rng([seed, 2])
    parents = rng.integers(len(voices), size=count)
    moved = table.to_normalised(voices[parents]) + rng.normal(scale=scale, size=(count, len(table)))
    return table.to_native(moved), parents.astype(np.int64)


def random_sources(count: int) -> list[str]:
    """The ``sources`` entries of ``count`` random presets."""
    return [f"{RANDOM_SOURCE}#{k}" for k in range(count)]


def perturbed_sources(parents: np.ndarray) -> list[str]:
    """The ``sources`` entries of perturbed presets whose parents are the store rows ``parents``."""
    return [f"{PERTURBED_SOURCE}#{k}@{int(row)}" for k, row in enumerate(parents)]


def is_random(sources: list[str]) -> np.ndarray:
    """Boolean mask of the rows drawn uniformly."""
    return np.asarray([s.startswith(RANDOM_SOURCE + "#") for s in sources], dtype=bool)


def perturbed_parents(sources: list[str]) -> np.ndarray:
    """The parent row of every perturbed row, -1 for the others."""
    prefix = PERTURBED_SOURCE + "#"
    return np.asarray([int(s.rpartition("@")[2]) if s.startswith(prefix) else -1 for s in sources], dtype=np.int64)


def synthetic_splits(split_codes: np.ndarray, ok: np.ndarray, random: np.ndarray, parents: np.ndarray) -> None:
    """Give the synthetic rows their split in place: usable random rows train; a usable perturbed row trains when
    its parent voice trains and is excluded otherwise (``split_codes`` holds the real voices' splits)."""
    train = SPLIT_CODES["train"]
    split_codes[random & ok] = train
    perturbed = np.flatnonzero(parents >= 0)
    parent_trains = split_codes[parents[perturbed]] == train
    split_codes[perturbed] = np.where(ok[perturbed] & parent_trains, train, EXCLUDED)
