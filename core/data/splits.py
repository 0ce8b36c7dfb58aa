"""Train / valid / test splits, cross-validation folds and the training-split normalisation statistics.

* ``random``: the usable rows are shuffled with the seed and cut 80 / 10 / 10.
* ``grouped``: rows are grouped by source (the preset file, or its folder with ``group_by="folder"``); the groups
  are shuffled with the seed and handed to train until it holds 80% of the rows, then to valid until 90%, then to
  test. Near-duplicates from one bank therefore never sit on both sides.
* ``split_like``: the groups take the split they have in another store of the same corpus (a store of other
  parameters, say), so that voices held out of one are held out of the other; groups it lacks go to test.
* ``folds=K``: every usable row (every group, when grouped) also gets a fold ``0..K-1``; groups go to the fold
  with the fewest rows so far, in shuffled order.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import PurePath

import numpy as np

from .store import EXCLUDED, SPLIT_CODES

FRACTIONS = (0.8, 0.1, 0.1)


def group_keys(sources: Sequence[str], group_by: str) -> list[str]:
    """The group of every row from its ``file#index`` source: the file, or the file's folder."""
    files = [s.rsplit("#", 1)[0] if "#" in s else s for s in sources]
    if group_by == "file":
        return files
    if group_by == "folder":
        return [str(PurePath(f).parent) for f in files]
    raise ValueError(f"group_by must be 'file' or 'folder', got {group_by!r}")


def portable_sources(sources: Sequence[str], listed: Collection[str]) -> list[str]:
    """``file#index`` sources with their files relative to the folder the presets were read from, whose files
    (relative to it) are ``listed`` (a store's ``inputs``): the same corpus read from another place, or into
    another store, gives the same sources however its folder was written on the command line."""
    out = []
    for source in sources:
        file, hash_, index = source.rpartition("#") if "#" in source else (source, "", "")
        parts = PurePath(file).parts
        relative = next((str(PurePath(*parts[i:])) for i in range(len(parts)) if str(PurePath(*parts[i:])) in listed),
                        file)
        out.append(relative + hash_ + index)
    return out


def inherited_splits(ok: np.ndarray, keys: Sequence[str], reference: dict[str, int]) -> np.ndarray:
    """Split codes that follow another store's, group by group: each usable row takes the split ``reference`` gives
    its group key; a group the reference lacks goes to test (it was never trained on there), unusable rows -1."""
    test = SPLIT_CODES["test"]
    split = np.full(len(ok), EXCLUDED, dtype=np.int8)
    for r in np.flatnonzero(ok):
        split[r] = reference.get(keys[r], test)
    return split


def assign_splits(ok: np.ndarray, keys: Sequence[str], method: str, seed: int,
                  folds: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split codes (0 train, 1 valid, 2 test, -1 unusable) and folds (-1 without) for every row.

    Args:
        ok: Usable rows.
        keys: Group key of every row (ignored by the ``random`` method).
        method: ``random`` or ``grouped``.
        seed: Seed of the shuffles.
        folds: Number of cross-validation folds, if any.
    """
    n = len(ok)
    split = np.full(n, EXCLUDED, dtype=np.int8)
    fold = np.full(n, -1, dtype=np.int16)
    usable = np.flatnonzero(ok)
    if not len(usable):
        return split, fold
    rng = np.random.default_rng(seed)
    if method == "random":
        groups = [np.array([r]) for r in usable[rng.permutation(len(usable))]]
    elif method == "grouped":
        by_key: dict[str, list[int]] = {}
        for r in usable:
            by_key.setdefault(keys[r], []).append(int(r))
        names = sorted(by_key)
        groups = [np.array(by_key[names[i]]) for i in rng.permutation(len(names))]
    else:
        raise ValueError(f"split method must be 'random' or 'grouped', got {method!r}")
    total = len(usable)
    bounds = (FRACTIONS[0] * total, (FRACTIONS[0] + FRACTIONS[1]) * total)
    seen = 0
    for rows in groups:
        code = SPLIT_CODES["train"] if seen < bounds[0] else SPLIT_CODES["valid"] if seen < bounds[1] \
            else SPLIT_CODES["test"]
        split[rows] = code
        seen += len(rows)
    if folds:
        sizes = np.zeros(folds, dtype=np.int64)
        for rows in groups:
            k = int(np.argmin(sizes))
            fold[rows] = k
            sizes[k] += len(rows)
    return split, fold


def mel_statistics(mel_array, rows: np.ndarray, chunk_rows: int) -> tuple[float, float]:
    """Mean and standard deviation of every value of ``mel_array[rows]``, read chunk by chunk in float64."""
    total = 0.0
    total_sq = 0.0
    count = 0
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    chunk_of = rows // chunk_rows
    for chunk in np.unique(chunk_of):
        start = int(chunk) * chunk_rows
        block = np.asarray(mel_array[start:min(start + chunk_rows, mel_array.shape[0])], dtype=np.float64)
        values = block[rows[chunk_of == chunk] - start]
        total += float(values.sum())
        total_sq += float(np.square(values).sum())
        count += values.size
    if count == 0:
        return 0.0, 1.0
    mean = total / count
    std = float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))
    return mean, std if std > 0 else 1.0
