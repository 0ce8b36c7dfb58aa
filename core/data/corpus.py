"""Reading a preset corpus: files through the synth's registered parsers, failures recorded, never raised."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PatchflowError
from ..parameters import ParameterTable
from ..plugins import iter_preset_files, parse_preset_file
from ..presets import Preset
from ..progress import Progress, or_quiet


@dataclass
class Corpus:
    """Presets read from files, and what went wrong on the way.

    Attributes:
        files: Every file looked at.
        presets: Presets read, in file order.
        failures: One record per file that could not be read (``source``, ``stage``, ``reason``).
        problems: Count of parser notes by kind (repairs and skipped voices inside readable files).
        warnings: Count of distinct warning messages raised by parsers (first 60 characters).
    """

    files: list[Path] = field(default_factory=list)
    presets: list[Preset] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    problems: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)


def read_corpus(synth_id: str, paths: Iterable[str | Path], progress: Progress | None = None,
                exclude: Iterable[str | Path] = (), parser: str | None = None) -> Corpus:
    """Parse every preset file under ``paths`` (files or folders) with the parsers registered for ``synth_id``.

    A file no parser can read is listed in :attr:`Corpus.failures` with the parser's reason; nothing raises.
    Files under a folder of ``exclude`` are not read (see :func:`patchflow.plugins.iter_preset_files`). With
    ``parser``, every file is read by the parser of that name only (for files several parsers claim).
    """
    corpus = Corpus(files=iter_preset_files(paths, exclude))
    with or_quiet(progress).task("reading presets", len(corpus.files), "files") as task:
        for path in corpus.files:
            _read_file(corpus, path, synth_id, parser)
            task.advance(1)
    return corpus


def _read_file(corpus: Corpus, path: Path, synth_id: str, parser: str | None) -> None:
    """Parse one file into ``corpus`` (presets, failures, problem and warning counts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = parse_preset_file(path, synth_id, parser=parser)
        except PatchflowError as exc:
            corpus.failures.append({"source": str(path), "name": "", "stage": "parse", "reason": str(exc)})
            result = None
    for w in caught:
        corpus.warnings[type(w.message).__name__ + ": " + _shorten(str(w.message))] += 1
    if result is not None:
        corpus.presets.extend(p for p in result.presets if p.synth == synth_id)
        for problem in result.problems:
            corpus.problems[problem.kind] += 1
            if problem.action == "skipped":
                source = f"{problem.path}#{problem.index}" if problem.index is not None else problem.path
                corpus.failures.append({"source": source, "name": "", "stage": "parse",
                                        "reason": f"{problem.kind}: {problem.message}"})


def _shorten(message: str) -> str:
    # group warnings by their kind, not by the file named in them
    for sep in (" in ", ": "):
        if sep in message:
            message = message.split(sep)[0]
    return message[:60]


def native_matrix(presets: list[Preset], table: ParameterTable, fill: np.ndarray) -> np.ndarray:
    """``(N, P)`` native values of ``presets`` on ``table`` (missing values from ``fill``), clamped to range."""
    names = table.names
    fill_list = np.asarray(fill, dtype=np.float64).tolist()
    matrix = np.empty((len(presets), len(names)), dtype=np.float64)
    # Most parsers set every parameter in table order: those rows are read straight from the values (C-level),
    # several times faster than looking each name up on a 100k-preset corpus.
    in_order = np.fromiter((len(p.values) == len(names) and list(p.values) == names for p in presets), dtype=bool,
                           count=len(presets))
    ordered = [p for p, fast in zip(presets, in_order) if fast]
    matrix[in_order] = np.fromiter(chain.from_iterable(p.values.values() for p in ordered), dtype=np.float64,
                                   count=len(ordered) * len(names)).reshape(len(ordered), len(names))
    for i in np.flatnonzero(~in_order):
        matrix[i] = [presets[i].values.get(n, f) for n, f in zip(names, fill_list)]
    matrix[~np.isfinite(matrix)] = np.asarray(fill, dtype=np.float64)[np.nonzero(~np.isfinite(matrix))[1]]
    return table.clamp(matrix)
