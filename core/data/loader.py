"""Training batches from a store: the split's arrays are read once, chunk by chunk, and held in memory.

Reading random rows from a zarr store one at a time is slow (every row decompresses a whole chunk); reading a
split sequentially is fast and its mels fit in RAM (a 30k-preset corpus is ~1.3 GB of float32 mels). Batches are
then cut from memory in a seeded order, which makes the loader deterministic for a seed and epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .store import CHUNK_ROWS, PresetStore


def _read_rows(array, rows: np.ndarray) -> np.ndarray:
    """Rows of a zarr array, read chunk by chunk (each needed chunk decompressed once)."""
    out = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
    if len(rows) == 0:
        return out
    chunk_of = rows // CHUNK_ROWS
    for chunk in np.unique(chunk_of):
        take = np.flatnonzero(chunk_of == chunk)
        start = int(chunk) * CHUNK_ROWS
        block = np.asarray(array[start:min(start + CHUNK_ROWS, array.shape[0])])
        out[take] = block[rows[take] - start]
    return out


class StoreLoader:
    """An iterable of dict batches over one split of a store (see :func:`make_loader`).

    Batches hold ``mel`` ``(B, n_mels, frames)`` float32 normalised with the training statistics, ``params``
    ``(B, P)`` float32 in ``[0, 1]``, ``classes`` ``(B, P)`` int64 (-1 for continuous parameters), ``tags``
    ``(B, T)`` float32 and ``index`` ``(B,)`` int64 (rows of the store).
    """

    def __init__(self, store: PresetStore, split: str | np.ndarray, batch_size: int, *, shuffle: bool = True,
                 seed: int = 0, device: str | torch.device = "cpu", drop_last: bool = False, rank: int = 0,
                 world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world_size {world_size}")
        self.store = store
        self.rows = store.split_indices(split) if isinstance(split, str) else np.sort(np.asarray(split, np.int64))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device)
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        mel = _read_rows(store.mel, self.rows)
        self._mel = torch.from_numpy(store.normalise_mel(mel).astype(np.float32, copy=False))
        self._params = torch.from_numpy(_read_rows(store.array("params"), self.rows).astype(np.float32))
        self._classes = torch.from_numpy(_read_rows(store.array("classes"), self.rows).astype(np.int64))
        self._tags = torch.from_numpy(_read_rows(store.array("tags"), self.rows).astype(np.float32))
        self._index = torch.from_numpy(self.rows.copy())

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration uses (the order depends on ``seed`` and ``epoch``)."""
        self.epoch = int(epoch)

    def _positions(self) -> np.ndarray:
        n = len(self.rows)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.world_size > 1:
            per_rank = -(-n // self.world_size)
            if n and len(order) < per_rank * self.world_size:  # pad by wrapping, as DistributedSampler does
                order = np.concatenate([order, order[: per_rank * self.world_size - len(order)]])
            order = order[self.rank::self.world_size]
        return order

    def __len__(self) -> int:
        n = len(self._positions())
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = torch.from_numpy(self._positions())
        if self.shuffle:  # the k-th pass over the loader uses epoch k (unless set_epoch says otherwise)
            self.epoch += 1
        return self._batches(order)

    def _batches(self, order: torch.Tensor) -> Iterator[dict[str, torch.Tensor]]:
        for start in range(0, len(order), self.batch_size):
            take = order[start:start + self.batch_size]
            if self.drop_last and len(take) < self.batch_size:
                break
            yield {
                "mel": self._mel[take].to(self.device, non_blocking=True),
                "params": self._params[take].to(self.device, non_blocking=True),
                "classes": self._classes[take].to(self.device, non_blocking=True),
                "tags": self._tags[take].to(self.device, non_blocking=True),
                "index": self._index[take].to(self.device, non_blocking=True),
            }


def make_loader(store: PresetStore, split: str | np.ndarray, batch_size: int, *, shuffle: bool = True,
                seed: int = 0, device: str | torch.device = "cpu", drop_last: bool = False, rank: int = 0,
                world_size: int = 1) -> StoreLoader:
    """Batches of one split of ``store``, held in memory and cut in a seeded order.

    Args:
        store: An open store.
        split: ``train``, ``valid``, ``test``, or an array of rows.
        batch_size: Items per batch.
        shuffle: Shuffle the order; the k-th iteration over the loader uses epoch k (or call ``set_epoch`` before
            iterating), and the order is a function of ``(seed, epoch)`` only.
        seed: Seed of the order.
        device: Where batches are placed.
        drop_last: Drop a last, smaller batch.
        rank: This process's rank for distributed training.
        world_size: Number of processes; every rank shuffles identically and takes every ``world_size``-th item
            (padded by wrapping so ranks get equal counts).
    """
    return StoreLoader(store, split, batch_size, shuffle=shuffle, seed=seed, device=device, drop_last=drop_last,
                       rank=rank, world_size=world_size)
