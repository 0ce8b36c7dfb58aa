"""Which parameters a dataset learns, and the base preset that holds all the others.

**Base preset.** Every row of a store is the base preset with the learned parameters changed, so the audio
depends on the learned parameters only. Unless ``--base-preset FILE[#INDEX]`` is given, the base is the synth's
classic voice found by name in the corpus (:data:`CLASSIC_VOICES`: for Dexed, ``E.PIANO 1`` of the DX7's ROM1A,
which uses all six operators), taking its most frequent version; when the corpus has no such voice, the most
frequent named voice of the corpus that renders audibly; and failing that, the synth's ``default_preset()``.

**Subsets of N parameters** (``--params 16/32/64``). Corpus variance alone picks parameters that make no audible
difference over the base preset (pitch-envelope rates when all pitch-envelope levels are flat, LFO depth when no
operator is sensitive to it...). Each parameter therefore gets a score

    score = spread across the corpus x audible effect over the base preset

* *spread*: the standard deviation of its normalised values over the distinct corpus voices (continuous
  parameters), or the Gini impurity ``1 - sum(p_k^2)`` of its classes (categorical ones);
* *effect*: the base preset is rendered with the parameter alone moved to :data:`PROBES` evenly spaced values of
  its range (every class, up to that many, for categorical parameters), and the effect is the mean absolute
  log-mel difference in dB to the base rendering (both floored 80 dB below the base's peak).

Parameters whose effect is below :data:`AUDIBLE_DB` are never chosen while audible ones remain; the N best scores
are learned. The measure costs ``PROBES`` renders per parameter (~310 for the DX7) and is stored in the store's
``selection`` report, so ``patchflow dataset info`` shows why each parameter was chosen.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PatchflowError
from ..parameters import ParameterTable
from ..plugins import parse_preset_file
from ..presets import Preset
from ..synth import RenderSettings, Synth
from .features import FeatureSettings, log_mel
from .render import render_all

#: A well-known voice per synth, looked up by name in the corpus to serve as the base preset.
CLASSIC_VOICES = {"dexed": "E.PIANO 1"}
#: Values each parameter is moved to when measuring its audible effect.
PROBES = 3
#: Mean log-mel change (dB) below which a parameter counts as inaudible over the base preset.
AUDIBLE_DB = 0.1
#: Dynamic range (dB below the base rendering's peak) over which differences are measured.
FLOOR_DB = 80.0


class SelectionError(PatchflowError):
    """A parameter subset or base preset cannot be chosen as asked."""


# --------------------------------------------------------------------------------------------------- base preset
def load_base_preset(spec: str, synth_id: str) -> Preset:
    """The preset named by ``FILE[#INDEX]`` (index of the preset in a multi-preset file, default 0)."""
    path_text, _, index_text = spec.partition("#")
    path = Path(path_text).expanduser()
    try:
        index = int(index_text) if index_text else 0
    except ValueError:
        raise SelectionError(f"--base-preset {spec!r}: the part after '#' must be a preset index") from None
    result = parse_preset_file(path, synth_id)
    for i, preset in enumerate(result.presets):
        position = preset.source.index if preset.source and preset.source.index is not None else i
        if position == index:
            return preset
    raise SelectionError(f"--base-preset {spec!r}: {path} has no readable preset at index {index} "
                         f"({len(result.presets)} readable)")


def choose_base_preset(synth: Synth, presets: list[Preset], matrix: np.ndarray,
                       settings: RenderSettings) -> tuple[Preset, str]:
    """The base preset by the rule of the module docstring; returns it with a sentence saying how it was chosen.

    Args:
        synth: The synth.
        presets: Corpus presets.
        matrix: Their ``(N, all parameters)`` clamped native values.
        settings: Render settings (the base must be audible with them).
    """
    keys = [row.tobytes() for row in matrix]
    counts = Counter(keys)
    classic = CLASSIC_VOICES.get(synth.id)
    if classic:
        named = [i for i, p in enumerate(presets) if p.name.strip().upper() == classic.upper()]
        if named:
            best = max(named, key=lambda i: (counts[keys[i]], -i))
            return presets[best], (f"the synth's classic voice {classic!r} found in the corpus "
                                   f"({counts[keys[best]]} identical copies of this version)")
    ranked = sorted(range(len(presets)), key=lambda i: (-counts[keys[i]], i))
    seen: set[bytes] = set()
    for i in ranked:
        if keys[i] in seen or not any(c.isalpha() for c in presets[i].name):
            continue
        seen.add(keys[i])
        if len(seen) > 20:
            break
        audio = render_all(synth.id, [presets[i]], settings, 1)
        if not audio.errors[0]:
            return presets[i], f"the most frequent named voice of the corpus ({counts[keys[i]]} copies)"
    return synth.default_preset(), "the synth's default preset (no suitable corpus voice)"


# ------------------------------------------------------------------------------------------------ subset choice
def read_names_file(path: Path, table: ParameterTable) -> list[str]:
    """Parameter names listed in a file (one per line or comma-separated, ``#`` comments), checked against specs."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SelectionError(f"--params {path}: cannot read the file ({exc.strerror or exc})") from None
    names: list[str] = []
    for line in text.splitlines():
        for item in line.split("#", 1)[0].split(","):
            if item.strip():
                names.append(item.strip())
    if not names:
        raise SelectionError(f"--params {path}: the file lists no parameter names")
    for name in names:
        table.index(name)  # raises UnknownParameterError with close matches
    duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
    if duplicates:
        raise SelectionError(f"--params {path}: parameters listed twice: {', '.join(duplicates)}")
    return names


def corpus_spread(table: ParameterTable, matrix: np.ndarray) -> np.ndarray:
    """Spread of every parameter over the rows of a native ``matrix`` (std, or Gini impurity for classes)."""
    normalised = table.to_normalised(matrix) if len(matrix) else np.zeros((0, len(table)))
    spread = np.zeros(len(table))
    for j, spec in enumerate(table):
        column = normalised[:, j]
        if not len(column):
            continue
        if spec.is_continuous:
            spread[j] = float(np.std(column))
        else:
            _, counts = np.unique(np.round(matrix[:, j]), return_counts=True)
            p = counts / counts.sum()
            spread[j] = float(1.0 - np.sum(p * p))
    return spread


def probe_values(spec) -> list[float]:
    """Native values a parameter is moved to when measuring its effect."""
    if spec.is_continuous:
        return sorted({spec.clamp(v) for v in np.linspace(spec.low, spec.high, PROBES)})
    n = spec.cardinality
    picks = np.unique(np.round(np.linspace(0, n - 1, min(n, max(PROBES, 8)))).astype(int))
    return [float(k) for k in picks]


def audible_effect(synth: Synth, base: Preset, settings: RenderSettings, features: FeatureSettings,
                   workers: int) -> np.ndarray:
    """Mean absolute log-mel change (dB) of moving each parameter alone across its range from the base preset."""
    table = synth.parameters
    base_vector = base.vector(table)
    variants: list[Preset] = [base]
    owner: list[int] = [-1]
    for j, spec in enumerate(table):
        for value in probe_values(spec):
            if value == spec.clamp(base_vector[j]):
                continue
            variants.append(base.model_copy(update={"values": {**base.values, spec.name: value}}))
            owner.append(j)
    rendered = render_all(synth.id, variants, settings, workers)
    if rendered.errors[0]:
        raise SelectionError(f"the base preset {base.name!r} does not render: {rendered.errors[0]}")
    mel = log_mel(rendered.audio, features).numpy()
    floor = float(mel[0].max()) - FLOOR_DB
    mel = np.maximum(mel, floor)
    diffs = np.abs(mel[1:] - mel[0]).mean(axis=(1, 2))
    effect = np.zeros(len(table))
    counts = np.zeros(len(table))
    np.add.at(effect, np.asarray(owner[1:], dtype=np.int64), diffs)
    np.add.at(counts, np.asarray(owner[1:], dtype=np.int64), 1)
    return np.divide(effect, counts, out=np.zeros_like(effect), where=counts > 0)


def select_parameters(synth: Synth, request: str, base: Preset, matrix: np.ndarray, settings: RenderSettings,
                      features: FeatureSettings, workers: int) -> tuple[list[str], dict[str, Any]]:
    """The learned parameter names for ``--params REQUEST`` and a report of how they were chosen.

    Args:
        synth: The synth.
        request: ``all``, a number of parameters (``16``), or a file listing names.
        base: The base preset.
        matrix: Clamped native values of the distinct corpus voices on every parameter.
        settings: Render settings.
        features: Feature settings.
        workers: Render threads.
    """
    table = synth.parameters
    if request == "all":
        return table.names, {"rule": "all parameters"}
    if not request.isdigit():
        path = Path(request).expanduser()
        if not path.is_file():
            raise SelectionError(f"--params {request!r}: expected 16, 32, 64 (any count), 'all', "
                                 f"or a file listing parameter names")
        return read_names_file(path, table), {"rule": f"names listed in {path}"}
    count = int(request)
    if not 1 <= count <= len(table):
        raise SelectionError(f"--params {count}: the synth has {len(table)} parameters")
    spread = corpus_spread(table, matrix)
    effect = audible_effect(synth, base, settings, features, workers)
    score = spread * effect
    audible = effect >= AUDIBLE_DB
    order = sorted(range(len(table)), key=lambda j: (not audible[j], -score[j], j))
    chosen = sorted(order[:count])
    report = {
        "rule": f"top {count} by corpus spread x audible effect over the base preset",
        "probes": PROBES,
        "audible_db": AUDIBLE_DB,
        "inaudible": [table.names[j] for j in range(len(table)) if not audible[j]],
        "scores": [{"name": table.names[j], "spread": round(float(spread[j]), 5),
                    "effect_db": round(float(effect[j]), 4), "score": round(float(score[j]), 5),
                    "chosen": j in chosen} for j in order],
    }
    return [table.names[j] for j in chosen], report
