"""Building a store: read the corpus, choose parameters, render in parallel, write chunk by chunk, resume.

A build runs in three stages:

1. **plan** - parse every preset file, choose the base preset and the learned parameters, project the corpus onto
   them, drop duplicates, apply ``limit``; allocate the store and write every row's parameters, name and source.
2. **render** - chunks of :data:`~patchflow.data.store.CHUNK_ROWS` rows are rendered and turned into log-mels by
   render threads (one synth each) or Ray tasks, and written by writer threads
   (:mod:`patchflow.data.render_stage`); a chunk is marked done only after its arrays are written.
3. **finalize** - splits, folds, training-split statistics, failures, counts and timing go into the attributes.

Running the same build again finds the plan in the store (its fingerprint must match the command), renders only
the chunks not marked done and finalizes: rendering is deterministic, so the result is identical to an
uninterrupted build whatever the moment of the interruption.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import PatchflowError
from ..locking import FolderLock
from ..progress import Progress, or_quiet
from ..plugins import get_synth, iter_preset_files, preset_parsers
from ..presets import Preset
from ..synth import RenderSettings, Synth
from .corpus import native_matrix, read_corpus
from .features import FeatureSettings, prepare
from .outputs import check_writable_out, clear_store, folder_entries, refuse_foreign
from .render import default_workers
from .render_stage import render_local, render_ray
from .selection import choose_base_preset, load_base_preset, select_parameters
from .splits import assign_splits, group_keys, inherited_splits, mel_statistics, portable_sources
from .store import CHUNK_ROWS, FORMAT_VERSION, PresetStore, StoreError, create_layout, open_group, open_store
from .synthetic import (is_random, perturbed_parents, perturbed_presets, perturbed_sources, random_sources,
                        synthetic_splits, uniform_presets)
from .tagging import apply_tag_rules, load_tag_rules

BACKENDS = ("local", "ray")


# ------------------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class BuildOptions:
    """What a store contains: every option of :func:`build_store` that its fingerprint digests and its attributes
    record (``build``), so that a rebuild with other options is told apart from a resume. How the build runs
    (workers, backend, progress, overwrite) is given to :func:`build_store` beside them.

    The values are checked when the options are made (:class:`~patchflow.errors.PatchflowError`): a known split,
    at least 2 folds, a limit of at least 1, no negative count of random presets, feature settings at the render
    sample rate. ``params`` and ``tags`` are kept as strings.

    Attributes:
        params: ``16``/``32``/``64`` (any count: chosen by :mod:`patchflow.data.selection`), ``all``, or a file of
            parameter names.
        settings: How notes are rendered.
        features: Mel recipe; ``None`` (the default) stands for :class:`FeatureSettings` at the render sample
            rate, which the options hold once made.
        limit: Keep at most this many distinct presets (a seeded sample, kept in corpus order).
        seed: Seed of the ``limit`` sample, the splits, the folds and the random presets.
        split: ``random`` or ``grouped`` (by source file, or folder with ``group_by="folder"``).
        folds: Also assign this many cross-validation folds.
        group_by: ``file`` or ``folder`` for grouped splits.
        base_preset: ``FILE[#INDEX]`` of the preset holding the parameters not learned.
        parser: Read every file with the preset parser of this name (when several parsers recognise the files).
        random_presets: Also render this many presets whose learned parameters are drawn uniformly over their
            ranges (grid-snapped, over the base preset), all in the training split: synthetic data that fills the
            parameter space between the corpus's voices. Validation and test rows stay real voices.
        perturbed_presets: Also render this many presets near the corpus's voices: a voice drawn at random with
            Gaussian noise of standard deviation ``perturb_scale`` on each learned parameter (normalised units,
            grid-snapped; see :mod:`patchflow.data.synthetic`). One trains only when its parent voice trains;
            those of held-out voices are left out of every split. Not with ``folds``.
        perturb_scale: The noise of ``perturbed_presets``, in ``(0, 1]``.
        tags: A tag mapping (a TOML file, or ``SYNTH:NAME`` shipped by an adapter) giving presets tag pairs from
            the folders they were found in (see :mod:`patchflow.data.tagging`).
        split_like: A store of the same corpus whose grouped split this one follows, group by group (groups it
            lacks go to test): a store of other parameters that holds out the same voices. Needs ``grouped``.
    """

    params: str = "16"
    settings: RenderSettings = field(default_factory=RenderSettings)
    features: FeatureSettings | None = None
    limit: int | None = None
    seed: int = 0
    split: str = "random"
    folds: int | None = None
    group_by: str = "file"
    base_preset: str | None = None
    parser: str | None = None
    random_presets: int = 0
    perturbed_presets: int = 0
    perturb_scale: float = 0.1
    tags: str | Path | None = None
    split_like: str | Path | None = None

    def __post_init__(self) -> None:
        features = self.features or FeatureSettings(sample_rate=self.settings.sample_rate)
        if features.sample_rate != self.settings.sample_rate:
            raise PatchflowError("feature and render sample rates differ")
        if self.split not in ("random", "grouped"):
            raise PatchflowError(f"unknown split {self.split!r}; choose random or grouped")
        if self.folds is not None and self.folds < 2:
            raise PatchflowError("--folds needs at least 2 folds")
        if self.limit is not None and self.limit < 1:
            raise PatchflowError("--limit must be at least 1")
        if self.random_presets < 0:
            raise PatchflowError("--random-presets must be at least 0")
        if self.perturbed_presets < 0:
            raise PatchflowError("--perturbed-presets must be at least 0")
        if not 0 < self.perturb_scale <= 1:
            raise PatchflowError(f"--perturb-scale must be in (0, 1], got {self.perturb_scale}")
        if self.perturbed_presets and self.folds:
            raise PatchflowError("--perturbed-presets cannot be combined with --folds (a fold would train on "
                                 "variants of the voices it holds out)")
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "params", str(self.params))
        if self.tags is not None:
            object.__setattr__(self, "tags", str(self.tags))
        if self.split_like is not None:
            if self.split != "grouped":
                raise PatchflowError("--split-like needs --split grouped (it copies the split of groups)")
            if self.folds:
                raise PatchflowError("--split-like cannot be combined with --folds")
            object.__setattr__(self, "split_like", str(self.split_like))

    def config(self, paths: Sequence[Path]) -> dict[str, Any]:
        """The ``build`` entry of the store's attributes, which the fingerprint digests: these options, the
        resolved preset ``paths``, the store format and the rules of ``tags`` (read here, so that a bad mapping is
        refused before any preset is read, and its content counts, not only its name). The options added after the
        first stores appear only when set, so that those stores keep their fingerprint."""
        config: dict[str, Any] = {
            "params": self.params, "settings": vars(self.settings), "features": self.features.to_json(),
            "limit": self.limit, "seed": self.seed, "split": self.split, "folds": self.folds,
            "group_by": self.group_by, "base_preset": self.base_preset,
            "paths": [str(p.resolve()) for p in paths], "format": FORMAT_VERSION}
        if self.parser is not None:
            config["parser"] = self.parser
        if self.random_presets:
            config["random_presets"] = int(self.random_presets)
        if self.perturbed_presets:
            config["perturbed_presets"] = int(self.perturbed_presets)
            config["perturb_scale"] = float(self.perturb_scale)
        if self.split_like is not None:
            reference = reference_splits(self.split_like, self.group_by)
            digest = hashlib.sha256(json.dumps(reference, sort_keys=True).encode()).hexdigest()
            config["split_like"] = {"store": str(Path(self.split_like).resolve()), "groups": digest}
        if self.tags is not None:
            rules = load_tag_rules(self.tags)
            config["tags"] = {"mapping": self.tags, "pairs": [[r.name, list(r.positive), list(r.negative)]
                                                             for r in rules]}
        return config


def reference_splits(path: str | Path, group_by: str) -> dict[str, int]:
    """The split of each group of the store at ``path`` (keys relative to its presets' folder), for
    ``split_like``.

    Raises:
        PatchflowError: No store there, or a store split another way than grouped by ``group_by``.
    """
    try:
        store = open_store(path)
    except StoreError as exc:
        raise PatchflowError(f"--split-like {path}: {exc}") from None
    recorded = store.meta.get("split") or {}
    if recorded.get("method") != "grouped" or recorded.get("group_by") != group_by:
        raise PatchflowError(f"--split-like {path}: that store is not split grouped by {group_by}")
    keys = group_keys(portable_sources(store.sources, (store.meta.get("inputs") or {}).get("files", {})), group_by)
    codes = np.asarray(store.array("split")[:])
    reference: dict[str, int] = {}
    for key, code in zip(keys, codes.tolist()):
        if code >= 0:
            reference.setdefault(key, int(code))
    return reference


# ---------------------------------------------------------------------------------------------------- fingerprint
def build_fingerprint(synth_id: str, files: Sequence[Path], config: dict[str, Any]) -> str:
    """A digest of everything that determines a store's content: the options and the input files' identity."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"synth": synth_id, **config}, sort_keys=True, default=str).encode())
    for f in files:
        try:
            stat = f.stat()
            digest.update(f"{f.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{f}|missing\n".encode())
    params = config.get("params", "")
    if params and not str(params).isdigit() and params != "all" and Path(params).is_file():
        digest.update(Path(params).read_bytes())
    return digest.hexdigest()


def input_listing(files: Sequence[Path]) -> dict[str, Any]:
    """The identity of each input file (size, modification time), kept in the store's attributes so that a rebuild
    with other files can say which were added, removed or changed."""
    resolved = [f.resolve() for f in files]
    root = Path(os.path.commonpath(resolved)) if resolved else Path()
    if len(resolved) == 1:
        root = root.parent
    listing: dict[str, list[int]] = {}
    for f in resolved:
        try:
            stat = f.stat()
            listing[str(f.relative_to(root))] = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            listing[str(f.relative_to(root))] = [-1, -1]
    return {"root": str(root), "files": listing}


#: How each ``build`` option is given on the command line (for the message of a mismatched rebuild).
_OPTION_NAMES = {"params": "--params", "limit": "--limit", "seed": "--seed", "split": "--split", "folds": "--folds",
                 "group_by": "--group-by", "base_preset": "--base-preset", "parser": "--parser",
                 "split_like": "--split-like", "random_presets": "--random-presets",
                 "perturbed_presets": "--perturbed-presets", "perturb_scale": "--perturb-scale", "tags": "--tags",
                 "paths": "--presets"}
#: Values of options that stores built before the option was added do not record.
_ABSENT = {"parser": None, "random_presets": 0, "perturbed_presets": 0, "perturb_scale": None,
           "tags": None}


def _names(paths: Sequence[str], shown: int = 3) -> str:
    listed = ", ".join(paths[:shown])
    return listed + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def describe_mismatch(existing: dict[str, Any], synth_id: str, config: dict[str, Any],
                      inputs: dict[str, Any]) -> str:
    """What differs between the build recorded in a store's attributes (``existing``) and the one asked for: the
    options by their command-line names, else the input files added, removed or changed."""
    old: dict[str, Any] = json.loads(json.dumps(existing.get("build") or {}, default=str))
    new: dict[str, Any] = json.loads(json.dumps(config, default=str))
    options: list[str] = []
    if existing.get("synth") not in (None, synth_id):
        options.append(f"--synth {existing['synth']} there, {synth_id} now")
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, _ABSENT.get(key)), new.get(key, _ABSENT.get(key))
        if before == after:
            continue
        if key == "settings":
            options += [f"--{field.replace('_', '-')} {before.get(field)} there, {after.get(field)} now"
                        for field in sorted(set(before) | set(after)) if before.get(field) != after.get(field)]
        elif key == "features":
            options += [f"feature setting {field} {before.get(field)} there, {after.get(field)} now"
                        for field in sorted(set(before) | set(after)) if before.get(field) != after.get(field)]
        elif key == "paths":
            added = [p for p in after if p not in before]
            removed = [p for p in before if p not in after]
            options.append("--presets " + "; ".join(([f"added {_names(added)}"] if added else [])
                                                    + ([f"removed {_names(removed)}"] if removed else [])))
        elif key == "format":
            options.append(f"store format {before} there, {after} now (this patchflow writes another layout)")
        else:
            options.append(f"{_OPTION_NAMES.get(key, key)} {before} there, {after} now")
    if options:
        return "built with other options: " + "; ".join(options)
    if "inputs" not in existing:
        return "built from other input files (added, removed or changed since; the store does not list its files)"
    root_before, root_after = Path(existing["inputs"]["root"]), Path(inputs["root"])
    before = {str(root_before / k): v for k, v in existing["inputs"]["files"].items()}
    after = {str(root_after / k): v for k, v in inputs["files"].items()}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if list(before[k]) != list(after[k]))
    parts = [f"{len(found)} {what} ({_names(found)})"
             for what, found in (("added", added), ("removed", removed), ("changed", changed)) if found]
    if parts:
        return "built from other input files: " + ", ".join(parts)
    return f"built with another --params file ({config.get('params')} has changed since)"


def _check_parser(synth_id: str, name: str) -> None:
    """Refuse an unknown ``--parser`` before anything is read."""
    import difflib

    names = [p.name for p in preset_parsers(synth_id)]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise PatchflowError(f"no preset parser named {name!r} reads {synth_id} presets; {hint}"
                             f"installed: {', '.join(names) or 'none'}")


# ----------------------------------------------------------------------------------------------------------- plan
def _tag_pairs(presets: Sequence[Preset]) -> list[str]:
    return sorted({k for p in presets for k in p.tags if isinstance(k, str) and "/" in k})


def _tag_values(preset: Preset, pairs: Sequence[str]) -> list[int]:
    values = []
    for pair in pairs:
        positive, _, negative = pair.partition("/")
        value = preset.tags.get(pair)
        values.append(1 if value == positive else -1 if value == negative else 0)
    return values


def _plan(synth: Synth, paths: Sequence[str | Path], out: Path, options: BuildOptions, *, workers: int,
          meta: dict[str, Any], progress: Progress) -> None:
    settings, features, params, seed = options.settings, options.features, options.params, options.seed
    limit, base_preset, random_presets = options.limit, options.base_preset, options.random_presets
    table = synth.parameters
    say = progress.message
    corpus = read_corpus(synth.id, paths, progress=progress, exclude=[out], parser=options.parser)
    say(f"read {len(corpus.presets)} presets from {len(corpus.files)} files "
        f"({sum(f['stage'] == 'parse' for f in corpus.failures)} failures)")
    if not corpus.presets:
        raise PatchflowError(f"no readable {synth.id} preset under {', '.join(map(str, paths))}")
    fill = table.defaults()
    matrix = native_matrix(corpus.presets, table, fill)
    if base_preset:
        base = load_base_preset(base_preset, synth.id)
        base_rule = f"given with --base-preset {base_preset}"
    else:
        base, base_rule = choose_base_preset(synth, corpus.presets, matrix, settings)
    base = base.with_values(table, table.clamp(base.vector(table)))
    _, distinct = np.unique(matrix, axis=0, return_index=True)
    if params.isdigit():
        say(f"measuring the audible effect of each of the {len(table)} parameters over {base.name!r}")
    names, selection = select_parameters(synth, params, base, matrix[np.sort(distinct)], settings, features, workers)
    learned = table.subset(names)
    columns = [table.index(n) for n in names]
    values = matrix[:, columns]
    _, first = np.unique(values, axis=0, return_index=True)
    keep = np.sort(first)
    duplicates = len(values) - len(keep)
    limited_out = 0
    if limit is not None and limit < len(keep):
        chosen = np.random.default_rng(seed).choice(len(keep), size=limit, replace=False)
        limited_out = len(keep) - limit
        keep = keep[np.sort(chosen)]
    rows = [corpus.presets[i] for i in keep]
    native = values[keep]
    if options.tags is not None:
        rows = apply_tag_rules(rows, [Path(p) for p in paths], load_tag_rules(options.tags))
    pairs = _tag_pairs(rows)
    say(f"learning {len(names)} parameters; {duplicates} duplicates removed; {len(rows)} presets to render")
    names_col = [p.name for p in rows]
    sources_col = [str(p.source) if p.source else "" for p in rows]
    tags = np.asarray([_tag_values(p, pairs) for p in rows], dtype=np.int8).reshape(len(rows), len(pairs))
    voices = native
    if random_presets:
        native = np.concatenate([native, uniform_presets(learned, random_presets, seed)])
        names_col += [f"RANDOM {k + 1}" for k in range(random_presets)]
        sources_col += random_sources(random_presets)
        tags = np.concatenate([tags, np.zeros((random_presets, len(pairs)), dtype=np.int8)])
        say(f"adding {random_presets} random presets (learned parameters drawn uniformly over {base.name!r}) to the "
            f"training split")
    perturbed = options.perturbed_presets
    if perturbed:
        near, parents = perturbed_presets(learned, voices, perturbed, options.perturb_scale, seed)
        native = np.concatenate([native, near])
        names_col += [f"{names_col[p]} ~{k + 1}" for k, p in enumerate(parents)]
        sources_col += perturbed_sources(parents)
        tags = np.concatenate([tags, tags[parents]])
        say(f"adding {perturbed} presets perturbed around the corpus's voices (noise {options.perturb_scale:g} on "
            f"each learned parameter); those of voices that train go to the training split")

    meta = dict(meta, kind="presets", synth=synth.id, parameters=learned.to_json(),
                base_preset=base.model_dump(mode="json"), base_preset_rule=base_rule, selection=selection,
                tag_pairs=pairs, render_settings=vars(settings), features=features.to_json(),
                parse_failures=corpus.failures,
                counts={"files": len(corpus.files),
                        "files_failed": sum(1 for f in corpus.failures if "#" not in f["source"]),
                        "presets_read": len(corpus.presets),
                        "presets_skipped_by_parser": sum(1 for f in corpus.failures if "#" in f["source"]),
                        "parser_notes": dict(corpus.problems), "parser_warnings": dict(corpus.warnings),
                        "duplicates": int(duplicates), "limited_out": int(limited_out), "kept": len(rows)})
    meta["counts"]["random_presets"] = int(random_presets)
    meta["counts"]["perturbed_presets"] = int(perturbed)
    clear_store(out)
    group = create_layout(out, meta, len(native), len(names), len(pairs), settings, features)
    classes = np.full(native.shape, -1, dtype=np.int64)
    for j, spec in enumerate(learned):
        if not spec.is_continuous:
            classes[:, j] = np.round(native[:, j]).astype(np.int64)
    if len(native):
        group["native"][:] = native
        group["params"][:] = learned.to_normalised(native).astype(np.float32)
        group["classes"][:] = classes
        group["tags"][:] = tags.reshape(len(native), -1)
        group["names"][:] = np.asarray(names_col, dtype=object).astype(str)
        group["sources"][:] = np.asarray(sources_col, dtype=object).astype(str)
    group.attrs["patchflow"] = dict(group.attrs["patchflow"], plan_complete=True)


# ------------------------------------------------------------------------------------------------------- finalize
def _finalize(path: Path, split: str, seed: int, folds: int | None, group_by: str,
              timing: dict[str, float], split_like: str | None = None) -> None:
    store = PresetStore(path)
    group = open_group(path, "r+")
    ok = np.asarray(group["ok"][:], dtype=bool)
    errors = [str(e) for e in group["error"][:]]
    sources = store.sources
    drawn, parents = is_random(sources), perturbed_parents(sources)
    real = ok & ~drawn & (parents < 0)
    if split_like is None:
        split_codes, fold = assign_splits(real, group_keys(sources, group_by), split, seed, folds)
    else:  # no folds with split_like (refused when the options are made)
        listed = (store.meta.get("inputs") or {}).get("files", {})
        split_codes = inherited_splits(real, group_keys(portable_sources(sources, listed), group_by),
                                       reference_splits(split_like, group_by))
        fold = np.full(len(ok), -1, dtype=np.int16)
    synthetic_splits(split_codes, ok, drawn, parents)  # the splits' fractions are of real voices
    group["split"][:] = split_codes
    group["fold"][:] = fold
    mean, std = mel_statistics(group["mel"], np.flatnonzero(split_codes == 0), CHUNK_ROWS)
    meta = dict(group.attrs["patchflow"])
    render_failures = [{"source": store.sources[i], "name": store.names[i], "stage": "render", "reason": errors[i]}
                       for i in np.flatnonzero(~ok)]
    counts = dict(meta.get("counts", {}), render_failed=len(render_failures), usable=int(ok.sum()))
    if (parents >= 0).any():
        counts["perturbed_training"] = int(((parents >= 0) & (split_codes == 0)).sum())
    previous = meta.get("timing", {})
    runs = list(previous.get("runs", [])) + [timing]
    render_s = sum(r.get("render_s", 0.0) for r in runs)
    rendered = sum(r.get("rendered", 0) for r in runs)
    meta.update(
        status="complete",
        failures=list(meta.get("parse_failures", [])) + render_failures,
        counts=counts,
        norm={"mel_mean": mean, "mel_std": std, "computed_on": "train split, every value"},
        split={"method": split, "seed": seed, "folds": folds or 0, "group_by": group_by if split == "grouped" else "",
               "fractions": [0.8, 0.1, 0.1], **({"like": str(split_like)} if split_like is not None else {})},
        timing={"runs": runs, "total_s": round(sum(r.get("total_s", 0.0) for r in runs), 3),
                "render_s": round(render_s, 3),
                "presets_per_s": round(rendered / render_s, 1) if render_s > 0 else None},
    )
    group.attrs["patchflow"] = meta


# ------------------------------------------------------------------------------------------------------ build
def build_store(
    synth: str | Synth,
    presets_paths: Sequence[str | Path],
    out: str | Path,
    options: BuildOptions = BuildOptions(),
    *,
    workers: int | None = None,
    backend: str = "local",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> PresetStore:
    """Build (or resume, or just open if already built) a store of rendered presets.

    Args:
        synth: Synth id or instance.
        presets_paths: Preset files and folders (searched recursively).
        out: The store to write (a ``.zarr`` folder).
        options: What the store contains (see :class:`BuildOptions`); a store built with other options is not
            resumed but refused, or replaced with ``overwrite``.
        workers: Render threads (local) or Ray CPUs; defaults to the number of cores.
        backend: ``local`` (threads) or ``ray``.
        progress: Receives messages and the progress of reading and rendering (default: quiet; the CLI draws
            bars).
        overwrite: Replace an existing store built with different options (only ever a store: see
            :mod:`patchflow.data.outputs`).

    Raises:
        StoreError: ``out`` holds a store built with other options (and ``overwrite`` is false), or a non-store.
        PatchflowError: No preset could be read, or an option is invalid.
    """
    started = time.perf_counter()
    synth_obj = get_synth(synth) if isinstance(synth, str) else synth
    if backend not in BACKENDS:
        raise PatchflowError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    workers = workers or default_workers()
    out = Path(out).expanduser()
    paths = [Path(p).expanduser() for p in presets_paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise PatchflowError(f"preset path not found: {', '.join(missing)}")
    if options.parser is not None:
        _check_parser(synth_obj.id, options.parser)
    check_writable_out(out, paths)
    files = iter_preset_files(paths, exclude=[out])
    config = options.config(paths)
    fingerprint = build_fingerprint(synth_obj.id, files, config)
    inputs = input_listing(files)
    progress = or_quiet(progress)
    with FolderLock(out, "store") as lock:
        if lock.stale_owner is not None:
            progress.message(lock.describe_stale() or "")
        return _build_locked(synth_obj, paths, out, options, workers=workers, backend=backend, progress=progress,
                             overwrite=overwrite, config=config, fingerprint=fingerprint, inputs=inputs,
                             started=started)


def _build_locked(synth_obj: Synth, paths: Sequence[Path], out: Path, options: BuildOptions, *, workers: int,
                  backend: str, progress: Progress, overwrite: bool, config: dict[str, Any], fingerprint: str,
                  inputs: dict[str, Any], started: float) -> PresetStore:
    """The build itself, run while this process holds the lock of ``out``."""
    say = progress.message
    needs_plan = True
    if folder_entries(out):
        refuse_foreign(out)  # never replace what patchflow did not write, --overwrite or not
        try:
            existing = dict(open_group(out, "r").attrs["patchflow"])
        except StoreError:
            if not overwrite:
                raise StoreError(f"{out} holds an unfinished store whose options cannot be read; pass --overwrite "
                                 f"to replace it, or choose another --out") from None
            existing = {}
        same = existing.get("fingerprint") == fingerprint
        if existing and not same and not overwrite:
            raise StoreError(f"{out} holds a store {describe_mismatch(existing, synth_obj.id, config, inputs)}; "
                             f"use another --out, or --overwrite to replace it")
        if same and existing.get("status") == "complete":
            say(f"{out} is already built with these options")
            return open_store(out)
        needs_plan = not (same and existing.get("plan_complete"))
        if not needs_plan:
            say(f"resuming the build of {out}")

    timing: dict[str, Any] = {}
    if needs_plan:
        _plan(synth_obj, paths, out, options, workers=workers,
              meta={"fingerprint": fingerprint, "build": config, "inputs": inputs}, progress=progress)
        timing["plan_s"] = round(time.perf_counter() - started, 3)

    store = PresetStore(out)
    done = np.asarray(open_group(out, "r")["chunk_done"][:], dtype=bool)
    chunks = [int(c) for c in np.flatnonzero(~done)]
    n = len(store)
    todo = sum(min(CHUNK_ROWS, n - c * CHUNK_ROWS) for c in chunks)
    prepare(store.features)
    render_started = time.perf_counter()
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one feature thread per render worker; more only oversubscribes the cores
    gc.freeze()  # the render stage churns small objects; spare the collector the long-lived ones (~3% of the CPU)
    try:
        with progress.task(f"rendering {synth_obj.id}", todo, "presets") as task:
            if backend == "ray":
                stages = render_ray(store, out, synth_obj.parameters, chunks, workers, task.advance)
            else:
                stages = render_local(store, out, synth_obj.parameters, chunks, workers, task.advance)
    finally:
        torch.set_num_threads(torch_threads)
        gc.unfreeze()
    timing["render_s"] = round(time.perf_counter() - render_started, 3)
    timing["stages"] = stages.to_json()
    timing["rendered"] = int(todo)
    timing["workers"] = workers
    timing["backend"] = backend
    timing["total_s"] = round(time.perf_counter() - started, 3)
    _finalize(out, options.split, options.seed, options.folds, options.group_by, timing, options.split_like)
    return open_store(out)
