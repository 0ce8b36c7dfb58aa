"""The preset store: rendered presets, their features and parameters in one zarr group.

Layout (zarr format 3, a directory ``NAME.zarr``; ``N`` rows, ``P`` learned parameters, ``T`` tag pairs, ``S``
samples per clip, rows grouped in chunks of :data:`CHUNK_ROWS`):

=================  ===========================  =========  ==========================================================
array              shape                        dtype      content
=================  ===========================  =========  ==========================================================
``audio``          ``(N, S)``                   float32    the rendered note, unscaled (Dexed peaks near 2.4)
``mel``            ``(N, n_mels, frames)``      float32    raw log-mel in dB (:mod:`patchflow.data.features`)
``params``         ``(N, P)``                   float32    learned parameters normalised to ``[0, 1]``
``native``         ``(N, P)``                   float64    learned parameters in native units (clamped to range)
``classes``        ``(N, P)``                   int64      class index of categorical parameters, -1 for continuous
``tags``           ``(N, T)``                   int8       tag-pair values: -1 / +1, 0 unknown
``names``          ``(N,)``                     str        preset names
``sources``        ``(N,)``                     str        ``file#index`` the preset was read from
``peak``           ``(N,)``                     float32    peak absolute amplitude of the audio
``ok``             ``(N,)``                     bool       rendered and usable (false: listed in ``failures``)
``error``          ``(N,)``                     str        why a row is unusable (empty when ``ok``)
``split``          ``(N,)``                     int8       0 train, 1 valid, 2 test, -1 excluded (failed row)
``fold``           ``(N,)``                     int16      cross-validation fold, -1 without ``--folds``
``chunk_done``     ``(ceil(N / CHUNK_ROWS),)``  bool       resume bookkeeping: chunk fully written
=================  ===========================  =========  ==========================================================

Group attribute ``patchflow`` holds everything else as JSON: format version, ``kind`` (``presets`` or ``audio`` for
out-of-domain imports), ``status`` (``building`` / ``complete``), synth id, render and feature settings, the
learned parameter specs, the base preset (values of every parameter not learned), tag-pair names, the
parameter-selection report, split method and sizes, normalisation statistics (mean and standard deviation of
``mel`` over every value of the training rows), failures (one record per preset, with the reason), counts,
timing and the build's fingerprint (a resumed build must match it).

Rows are written a whole chunk at a time by a single writer, so concurrent writers never share a chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import SPLITS, Dataset, Sample
from ..errors import PatchflowError
from ..parameters import ParameterTable
from ..presets import Preset
from ..synth import RenderSettings
from .features import FeatureSettings

#: Rows per chunk of every row-indexed array.
CHUNK_ROWS = 64
#: Store format version written in the attributes.
FORMAT_VERSION = 1
#: Split codes of the ``split`` array.
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
EXCLUDED = -1
#: The arrays of a store, in layout order: with ``zarr.json``, the only entries a store's folder holds.
ARRAY_NAMES = ("audio", "mel", "params", "native", "classes", "tags", "names", "sources", "peak", "ok", "error",
               "split", "fold", "chunk_done")


class StoreError(PatchflowError):
    """A store is missing, unreadable, incomplete or does not match what was asked."""


def _zarr():
    import zarr

    return zarr


def create_layout(path: str | Path, meta: dict[str, Any], n_rows: int, n_params: int, n_tags: int,
                  render: RenderSettings, features: FeatureSettings) -> Any:
    """Create an empty store with every array allocated in ``path``; returns the zarr group.

    ``path`` must be missing or hold no store (see :func:`patchflow.data.outputs.clear_store`): nothing else in
    the folder is touched, its lock file included.
    """
    zarr = _zarr()
    group = zarr.open_group(str(path), mode="a")
    samples = render.num_samples
    frames = features.frames(samples)
    rows = max(n_rows, 0)
    c = CHUNK_ROWS

    from zarr.codecs import BloscCodec

    # lz4 at level 1 for both (compression competes with rendering for the cores): bit-shuffled for audio, where
    # it is both faster and tighter than byte shuffling (2.7x on Dexed notes), byte-shuffled for the mels (zstd
    # gains 6% there for five times the time).
    codecs = {"audio": BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle"),
              "mel": BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")}

    def array(name: str, shape: tuple[int, ...], dtype: Any, chunks: tuple[int, ...], fill: Any) -> None:
        extra = {"compressors": [codecs[name]]} if name in codecs else {}
        group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, fill_value=fill, **extra)

    array("audio", (rows, samples), "float32", (c, samples), 0.0)
    array("mel", (rows, features.n_mels, frames), "float32", (c, features.n_mels, frames), 0.0)
    array("params", (rows, n_params), "float32", (c, max(n_params, 1)), 0.0)
    array("native", (rows, n_params), "float64", (c, max(n_params, 1)), 0.0)
    array("classes", (rows, n_params), "int64", (c, max(n_params, 1)), -1)
    array("tags", (rows, n_tags), "int8", (c, max(n_tags, 1)), 0)
    array("names", (rows,), str, (c,), "")
    array("sources", (rows,), str, (c,), "")
    array("peak", (rows,), "float32", (c,), 0.0)
    array("ok", (rows,), "bool", (c,), False)
    array("error", (rows,), str, (c,), "")
    array("split", (rows,), "int8", (c,), EXCLUDED)
    array("fold", (rows,), "int16", (c,), -1)
    array("chunk_done", (math.ceil(rows / c),), "bool", (1,), False)
    meta = dict(meta, format=FORMAT_VERSION, status="building")
    group.attrs["patchflow"] = meta
    return group


def open_group(path: str | Path, mode: str = "r") -> Any:
    """Open the zarr group of a store, with a clear error when it is not one."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such store")
    try:
        group = _zarr().open_group(str(path), mode=mode)
    except Exception as exc:  # zarr raises several kinds for a folder that is not a group
        raise StoreError(f"{path}: not a patchflow store ({type(exc).__name__}: {exc})") from None
    if "patchflow" not in group.attrs:
        raise StoreError(f"{path}: a zarr group, but not a patchflow store (no 'patchflow' attributes)")
    return group


def open_store(path: str | Path, *, allow_incomplete: bool = False) -> "PresetStore":
    """Open a finished store for reading.

    Raises:
        StoreError: ``path`` is not a store, or its build has not finished (rerun the build command to resume).
    """
    store = PresetStore(path)
    if "parameters" not in store.meta:
        raise StoreError(f"{path}: the build stopped before its plan was written; rerun the same "
                         f"`patchflow dataset build` command to start it again")
    if store.status != "complete" and not allow_incomplete:
        raise StoreError(f"{path}: the build has not finished (status {store.status!r}); "
                         f"rerun the same `patchflow dataset build` command to resume it")
    return store


class PresetStore(Dataset):
    """Read access to a store (see the module docstring for the layout).

    Items (``store[i]``) carry the *normalised* mel (training statistics); :attr:`mel` and :meth:`audio` give the
    raw arrays. Use :func:`patchflow.data.loader.make_loader` for training batches.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._group = open_group(self.path, "r")
        self.meta: dict[str, Any] = dict(self._group.attrs["patchflow"])

    # ------------------------------------------------------------------------------------------ metadata
    @property
    def status(self) -> str:
        """``building`` or ``complete``."""
        return str(self.meta.get("status", "building"))

    @property
    def kind(self) -> str:
        """``presets`` for rendered presets, ``audio`` for imported (out-of-domain) audio without parameters."""
        return str(self.meta.get("kind", "presets"))

    @property
    def synth_id(self) -> str:
        """Id of the synth that rendered the audio (of the reference store for imported audio)."""
        return str(self.meta["synth"])

    @cached_property
    def parameters(self) -> ParameterTable:
        """Specs of the learned parameters, in column order."""
        return ParameterTable.from_json(self.meta["parameters"])

    @cached_property
    def render_settings(self) -> RenderSettings:
        """How every item was rendered."""
        return RenderSettings(**self.meta["render_settings"])

    @cached_property
    def features(self) -> FeatureSettings:
        """How the mel features were computed."""
        return FeatureSettings.from_json(self.meta["features"])

    @property
    def tag_pairs(self) -> Sequence[str]:
        """Names of the tag pairs in column order of ``tags``."""
        return list(self.meta.get("tag_pairs", []))

    @cached_property
    def base_preset(self) -> Preset:
        """The preset every row starts from; rows differ from it only in the learned parameters."""
        return Preset.model_validate(self.meta["base_preset"])

    @property
    def mel_mean(self) -> float:
        """Mean of the raw log-mel over every value of the training rows (dB)."""
        return float(self.meta["norm"]["mel_mean"])

    @property
    def mel_std(self) -> float:
        """Standard deviation of the raw log-mel over every value of the training rows (dB)."""
        return float(self.meta["norm"]["mel_std"])

    @property
    def failures(self) -> list[dict[str, Any]]:
        """One record per preset (or file) that could not be used: ``source``, ``name``, ``stage``, ``reason``."""
        return list(self.meta.get("failures", []))

    @property
    def counts(self) -> dict[str, Any]:
        """Counts of the build (files, presets read, skipped, duplicates, kept, failed...)."""
        return dict(self.meta.get("counts", {}))

    # ----------------------------------------------------------------------------------------------- arrays
    def array(self, name: str) -> Any:
        """A zarr array of the store by name (lazy; slice it to read)."""
        return self._group[name]

    @property
    def mel(self) -> Any:
        """The raw log-mel array ``(N, n_mels, frames)`` (lazy zarr array: slice it)."""
        return self._group["mel"]

    @property
    def audio_array(self) -> Any:
        """The audio array ``(N, samples)`` (lazy zarr array: slice it)."""
        return self._group["audio"]

    def read_rows(self, name: str, rows: Any, dtype: Any = None) -> np.ndarray:
        """The rows ``rows`` (an integer array or a slice) of array ``name``, every other axis whole."""
        array = self._group[name]
        return np.asarray(array.get_orthogonal_selection((rows,) + (slice(None),) * (array.ndim - 1)), dtype=dtype)

    def audio(self, index: int) -> np.ndarray:
        """The rendered audio of one row, float32 at ``render_settings.sample_rate``."""
        return np.asarray(self._group["audio"][self._row(index)])

    @cached_property
    def names(self) -> list[str]:
        """Preset name of every row."""
        return [str(s) for s in self._group["names"][:]]

    @cached_property
    def sources(self) -> list[str]:
        """``file#index`` of every row."""
        return [str(s) for s in self._group["sources"][:]]

    @cached_property
    def ok(self) -> np.ndarray:
        """Boolean mask of usable rows."""
        return np.asarray(self._group["ok"][:], dtype=bool)

    @cached_property
    def split_codes(self) -> np.ndarray:
        """Split code of every row (0 train, 1 valid, 2 test, -1 excluded)."""
        return np.asarray(self._group["split"][:], dtype=np.int8)

    @cached_property
    def folds(self) -> np.ndarray:
        """Cross-validation fold of every row (-1 when the store has no folds)."""
        return np.asarray(self._group["fold"][:], dtype=np.int16)

    @property
    def n_folds(self) -> int:
        """Number of cross-validation folds (0 without)."""
        return int(self.meta.get("split", {}).get("folds") or 0)

    def __len__(self) -> int:
        return int(self._group["mel"].shape[0])

    def _row(self, index: int) -> int:
        n = len(self)
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"row {index} out of range for a store of {n} rows")
        return i % n

    def split_indices(self, split: str) -> np.ndarray:
        """Rows of ``train``, ``valid`` or ``test`` (usable rows only), sorted."""
        if split not in SPLIT_CODES:
            raise StoreError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        return np.flatnonzero(self.split_codes == SPLIT_CODES[split]).astype(np.int64)

    def fold_indices(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """``(train_rows, held_out_rows)`` of cross-validation fold ``fold``."""
        if not 0 <= fold < self.n_folds:
            raise StoreError(f"fold {fold} out of range: the store has {self.n_folds} folds")
        usable = self.ok
        return (np.flatnonzero(usable & (self.folds != fold)).astype(np.int64),
                np.flatnonzero(usable & (self.folds == fold)).astype(np.int64))

    def normalise_mel(self, mel: Any) -> Any:
        """Zero-mean, unit-variance log-mel with the training statistics (numpy or torch in, same out)."""
        return (mel - self.mel_mean) / self.mel_std

    def __getitem__(self, index: int) -> Sample:
        i = self._row(index)
        g = self._group
        return Sample(
            mel=self.normalise_mel(np.asarray(g["mel"][i], dtype=np.float32)),
            params=np.asarray(g["params"][i], dtype=np.float32),
            classes=np.asarray(g["classes"][i], dtype=np.int64),
            tags=np.asarray(g["tags"][i], dtype=np.int8),
            index=i,
            extra={"name": self.names[i], "source": self.sources[i], "ok": bool(self.ok[i])},
        )

    def preset(self, index: int) -> Preset:
        """The full preset of a row: the base preset with the row's learned values."""
        i = self._row(index)
        native = np.asarray(self._group["native"][i], dtype=np.float64)
        source = self.sources[i]
        # the base's raw name bytes (kept by some formats for round trips) would name the row after the base
        extra = {k: v for k, v in self.base_preset.extra.items() if k != "raw_name"}
        return self.base_preset.with_values(self.parameters, native, name=self.names[i],
                                            extra={**extra, "store_source": source})

    def info(self) -> dict[str, Any]:
        """Everything ``patchflow dataset info`` prints, as a dictionary."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "status": self.status,
            "synth": self.synth_id,
            "rows": len(self),
            "usable": int(self.ok.sum()),
            "counts": self.counts,
            "parameters": [{"name": s.name, "kind": s.kind.value, "range": [s.native_low, s.native_high],
                            "classes": s.cardinality} for s in self.parameters],
            "selection": self.meta.get("selection", {}),
            "base_preset": {"name": self.base_preset.name,
                            "source": str(self.base_preset.source) if self.base_preset.source else "",
                            "chosen_by": self.meta.get("base_preset_rule", "")},
            "render_settings": self.meta["render_settings"],
            "features": self.meta["features"],
            "split": {**self.meta.get("split", {}),
                      "sizes": {s: int((self.split_codes == c).sum()) for s, c in SPLIT_CODES.items()}},
            "norm": self.meta.get("norm", {}),
            "failures": self.failures,
            "timing": self.meta.get("timing", {}),
            "tag_pairs": list(self.tag_pairs),
        }

    def __repr__(self) -> str:
        return f"<PresetStore {str(self.path)!r} {self.synth_id} rows={len(self)} params={len(self.parameters)}>"
