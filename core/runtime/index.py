"""A compact retrieval index of a store's distinct voices, saved beside a run so matching needs no store.

Nearest-neighbour retrieval in log-mel space is a strong baseline (:mod:`patchflow.runtime.retrieval`), but the
log-mels of a whole corpus are large (17,502 DX7 voices at 128 x 87 values: 780 MB as float32). The index keeps
what retrieval needs in a few megabytes, in one ``index.npz``:

* an **embedding** of each voice: its normalised log-mel (the store's mean and standard deviation), centred and
  projected onto the first ``dims`` principal components of the indexed voices (float16);
* the **projection** (components, float16, and the mean, float32), to embed a query the same way;
* the voices' **normalised learned parameters** (float32), **names** and **sources** (``file#index``), and the
  store row each came from;
* the facts a query must agree with (synth, learned parameters, feature and render settings, normalisation).

Voices are the rows of the chosen split with distinct learned values: rows that differ only outside the learned
parameters sound the same over the store's base preset, so one of them (the first) stands for all.

Distances in the embedding are Euclidean distances between the projections of the normalised log-mels: the part of
each log-mel outside the first ``dims`` components is left out. ``docs/guide/matching.md`` reports how often the
nearest voice in the embedding is the nearest in the full log-mel on held-out voices.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.splits import portable_sources
from ..errors import PatchflowError
from ..parameters import ParameterTable
from ..progress import Progress, or_quiet

#: The file a run's index is saved in, inside the run directory.
INDEX_FILE = "index.npz"
#: Version of the index format (in the file's metadata).
FORMAT_VERSION = 1
#: Principal components kept by default.
DEFAULT_DIMS = 128
#: Splits an index can be built from: ``train`` (the voices the model learned from) or ``all`` usable rows.
SPLITS = ("train", "train+valid", "all")
#: Store rows read per step while building (64-row chunks are read whole).
_READ_ROWS = 1024


class IndexFileError(PatchflowError):
    """A retrieval index cannot be built, read, or used with a run."""


@dataclass
class VoiceIndex:
    """Retrieval over the distinct voices of a store, in a PCA embedding of their normalised log-mels.

    Attributes:
        embedding: ``(N, dims)`` projections of the voices (float16 on disk, float32 in memory).
        components: ``(dims, F)`` orthonormal principal directions in the flattened normalised log-mel.
        mean: ``(F,)`` mean normalised log-mel of the voices.
        params: ``(N, P)`` normalised learned parameters.
        names: Voice names.
        sources: ``file#index`` of each voice (relative to the store's input folder when it has one).
        rows: Store row of each voice.
        meta: Synth, ``parameters`` (specs), ``features``, ``render_settings``, ``mel_mean``, ``mel_std``,
            ``mel_shape``, ``split``, ``store`` (its folder's name), ``explained_variance`` (fraction kept by the
            components), the store's ``base_preset`` and ``reference_peak``, ``format``.
    """

    embedding: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    params: np.ndarray
    names: list[str]
    sources: list[str]
    rows: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.params)

    @property
    def dims(self) -> int:
        """Dimensions of the embedding."""
        return int(self.components.shape[0])

    @property
    def synth_id(self) -> str:
        """Synth of the indexed voices."""
        return str(self.meta["synth"])

    @property
    def parameters(self) -> ParameterTable:
        """Specs of the learned parameters, in the columns' order."""
        return ParameterTable.from_json(self.meta["parameters"])

    def is_voice_space(self, parameters: ParameterTable) -> bool:
        """Whether the index holds more parameters than ``parameters`` (those a run learns): whole voices, say."""
        return len(self.parameters) > len(parameters)

    def embed(self, log_mels: np.ndarray) -> np.ndarray:
        """Embeddings ``(B, dims)`` float32 of raw log-mels in dB ``(B, n_mels, frames)`` (normalised here with the
        store's statistics, as the voices were).

        Raises:
            IndexFileError: The log-mels do not have the indexed shape.
        """
        mels = np.asarray(log_mels, dtype=np.float32)
        shape = tuple(self.meta["mel_shape"])
        if mels.shape[-2:] != shape:
            raise IndexFileError(f"query log-mels of shape {mels.shape[-2:]}, the index holds {shape}")
        flat = mels.reshape(-1, self.components.shape[1])
        normalised = (flat - np.float32(self.meta["mel_mean"])) / np.float32(self.meta["mel_std"])
        return (normalised - self.mean) @ self.components.T

    def search(self, log_mels: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into the index) and squared embedding distances of the ``k`` nearest voices of each query.

        Args:
            log_mels: Raw log-mels in dB ``(B, n_mels, frames)``, computed with the index's feature settings.
            k: Neighbours per query (at most the number of voices).

        Returns:
            ``(positions, distances)``, both ``(B, k)``, nearest first.
        """
        queries = self.embed(log_mels)
        k = max(1, min(int(k), len(self)))
        distances = ((queries * queries).sum(axis=1, keepdims=True) - 2.0 * queries @ self.embedding.T
                     + self._norms[None, :])
        part = np.argpartition(distances, k - 1, axis=1)[:, :k] if k < len(self) else \
            np.tile(np.arange(len(self)), (len(queries), 1))
        chosen = np.take_along_axis(distances, part, axis=1)
        order = np.argsort(chosen, axis=1, kind="stable")
        positions = np.take_along_axis(part, order, axis=1)
        return positions, np.clip(np.take_along_axis(chosen, order, axis=1), 0.0, None)

    @property
    def _norms(self) -> np.ndarray:
        norms = self.__dict__.get("_cached_norms")
        if norms is None:
            norms = self.__dict__["_cached_norms"] = (self.embedding * self.embedding).sum(axis=1)
        return norms

    def check_fits(self, synth_id: str, parameters: ParameterTable, features: dict[str, Any],
                   mel_shape: tuple[int, int] | None = None, what: str = "the run") -> None:
        """Refuse an index made for other features or parameters than ``what`` uses.

        An index may hold more parameters than ``what`` learns (whole voices, :meth:`is_voice_space`): matching
        then searches over whole voices, the model's proposals completed by the base preset.

        Raises:
            IndexFileError: Another synth, a learned parameter the index lacks, other feature settings or another
                log-mel shape.
        """
        where = self.meta.get("path", "the index")
        if synth_id != self.synth_id:
            raise IndexFileError(f"{where} indexes {self.synth_id} voices; {what} is for {synth_id}")
        missing = [name for name in parameters.names if name not in self.parameters]
        if missing:
            raise IndexFileError(f"{where} holds other parameters than {what} learns ({len(missing)} of its "
                                 f"{len(parameters)} are not indexed, e.g. {missing[0]}); rebuild it with "
                                 f"`patchflow index build`")
        if dict(features) != dict(self.meta["features"]):
            raise IndexFileError(f"{where} was built with other feature settings than {what}; rebuild it with "
                                 f"`patchflow index build`")
        if mel_shape is not None and tuple(mel_shape) != tuple(self.meta["mel_shape"]):
            raise IndexFileError(f"{where} holds log-mels of shape {tuple(self.meta['mel_shape'])}, {what} "
                                 f"{tuple(mel_shape)}")

    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (an ``.npz`` file, replaced whole: a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in self.meta.items() if k != "path"}
        arrays = {
            "embedding": self.embedding.astype(np.float16),
            "components": self.components.astype(np.float16),
            "mean": self.mean.astype(np.float32),
            "params": self.params.astype(np.float32),
            "names": np.asarray(self.names, dtype=str),
            "sources": np.asarray(self.sources, dtype=str),
            "rows": np.asarray(self.rows, dtype=np.int64),
            "meta": np.asarray(json.dumps(meta)),
        }
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.npz")
        try:
            with open(temporary, "wb") as file:
                np.savez_compressed(file, **arrays)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return path


def load_index(path: str | Path) -> VoiceIndex:
    """Read an index written by :meth:`VoiceIndex.save`.

    Raises:
        IndexFileError: No such file, not an index, or a format this version does not read.
    """
    path = Path(path)
    if not path.is_file():
        raise IndexFileError(f"{path}: no such index (make one with `patchflow index build RUN --data STORE`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if not isinstance(meta, dict):
                raise ValueError("its metadata is not an object")
            index = VoiceIndex(
                embedding=np.asarray(data["embedding"], dtype=np.float32),
                components=np.asarray(data["components"], dtype=np.float32),
                mean=np.asarray(data["mean"], dtype=np.float32),
                params=np.asarray(data["params"], dtype=np.float64),
                names=[str(n) for n in data["names"]],
                sources=[str(s) for s in data["sources"]],
                rows=np.asarray(data["rows"], dtype=np.int64),
                meta=meta,
            )
    except Exception as exc:  # a damaged zip, missing arrays, bad JSON
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise IndexFileError(f"{path}: not a patchflow retrieval index ({reason})") from None
    if int(meta.get("format", 0)) > FORMAT_VERSION:
        raise IndexFileError(f"{path}: index format {meta.get('format')} is newer than this patchflow reads "
                             f"({FORMAT_VERSION}); upgrade patchflow")
    n = len(index.params)
    if not (len(index.embedding) == len(index.names) == len(index.rows) == n and n > 0) or \
            index.embedding.shape[1] != index.components.shape[0] or index.components.shape[1] != index.mean.size:
        raise IndexFileError(f"{path}: not a patchflow retrieval index (its arrays do not fit together)")
    index.meta["path"] = str(path)
    return index


def index_rows(store: Any, split: str = "train") -> np.ndarray:
    """The store rows an index of ``split`` holds: usable rows of the split with distinct learned values (the
    first row of each), in row order.

    Raises:
        IndexFileError: Unknown split, or no usable row.
    """
    if split not in SPLITS:
        raise IndexFileError(f"unknown split {split!r} for an index; choose from {', '.join(SPLITS)}")
    if split == "train":
        rows = store.split_indices("train")
    elif split == "train+valid":
        rows = np.union1d(store.split_indices("train"), store.split_indices("valid"))
    else:
        rows = np.flatnonzero(store.ok)
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        raise IndexFileError(f"{store.path}: no usable {split} rows to index")
    native = store.read_rows("native", rows, np.float64)
    _, first = np.unique(native, axis=0, return_index=True)
    return rows[np.sort(first)]


def _portable_preset(preset: dict[str, Any], listed: Collection[str]) -> dict[str, Any]:
    """A preset's JSON with its source file relative to the store's input folder."""
    source = preset.get("source")
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        preset = {**preset, "source": {**source, "path": portable_sources([source["path"]], listed)[0]}}
    return preset


def build_index(store: Any, *, split: str = "train", dims: int = DEFAULT_DIMS, seed: int = 0,
                progress: Progress | None = None) -> VoiceIndex:
    """Index the distinct voices of a store's ``split`` (see :func:`index_rows`).

    The principal components are those of the indexed voices' normalised log-mels (a randomised SVD, seeded,
    with signs fixed so that each component's largest entry is positive: the same store gives the same index).

    Args:
        store: An open :class:`~patchflow.data.store.PresetStore`.
        split: ``train``, ``train+valid`` or ``all`` usable rows.
        dims: Principal components kept (at most the number of voices).
        seed: Seed of the randomised SVD.
        progress: Receives the reading task and a line when done.

    Raises:
        IndexFileError: Unknown split, no usable row, or ``dims < 1``.
    """
    import torch

    from ..data.importing import reference_peak

    if dims < 1:
        raise IndexFileError(f"an index needs at least one dimension, got --dims {dims}")
    report = or_quiet(progress)
    rows = index_rows(store, split)
    shape = tuple(int(s) for s in store.mel.shape[1:])
    flat = np.empty((len(rows), int(np.prod(shape))), dtype=np.float32)
    with report.task("reading log-mels", len(rows), "voices") as task:
        for start in range(0, len(rows), _READ_ROWS):
            part = rows[start:start + _READ_ROWS]
            mels = store.read_rows("mel", part, np.float32)
            flat[start:start + len(part)] = store.normalise_mel(mels.reshape(len(part), -1))
            task.advance(len(part))
    mean = flat.mean(axis=0, dtype=np.float64).astype(np.float32)
    flat -= mean
    total = float(np.einsum("ij,ij->", flat, flat, dtype=np.float64))
    keep = int(min(dims, len(rows), flat.shape[1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, values, vectors = torch.svd_lowrank(torch.from_numpy(flat), q=min(keep + 16, *flat.shape), niter=6)
    components = vectors[:, :keep].T.numpy().astype(np.float32)
    signs = np.sign(components[np.arange(keep), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None].astype(np.float32)
    components16 = components.astype(np.float16)  # embed with the components as saved, so queries agree
    embedding = flat @ components16.astype(np.float32).T
    kept = float((values[:keep].double() ** 2).sum()) / total if total > 0 else 1.0
    names = store.names
    listed = (store.meta.get("inputs") or {}).get("files", {})
    sources = portable_sources(store.sources, listed)
    meta = {
        "format": FORMAT_VERSION,
        "synth": store.synth_id,
        "parameters": store.parameters.to_json(),
        "features": store.features.to_json(),
        "render_settings": dict(store.meta["render_settings"]),
        "mel_mean": float(store.mel_mean),
        "mel_std": float(store.mel_std),
        "mel_shape": list(shape),
        "split": split,
        "store": Path(str(store.path)).name,
        "voices": int(len(rows)),
        "dims": keep,
        "explained_variance": round(kept, 6),
        "seed": int(seed),
        "base_preset": _portable_preset(dict(store.meta["base_preset"]), listed),
        "reference_peak": reference_peak(store),
    }
    params = store.read_rows("params", rows, np.float64)
    index = VoiceIndex(embedding=embedding.astype(np.float16).astype(np.float32), components=components16.astype(
        np.float32), mean=mean, params=params, names=[names[r] for r in rows], sources=[sources[r] for r in rows],
        rows=rows, meta=meta)
    report.message(f"indexed {len(rows)} distinct voices ({split} rows) in {keep} dimensions ({kept:.1%} of the "
                   f"log-mel variance)")
    return index
