"""Nearest-neighbour retrieval in log-mel space: the honest baseline every model must beat.

Real preset corpora are full of near-duplicate sounds, so answering a query with the parameters of the training
preset whose (normalised) log-mel spectrogram is closest in Euclidean distance is often hard to beat on audio.
"""

from __future__ import annotations

import numpy as np
import torch


class MelRetrieval:
    """An index of training log-mels and their parameters, searched by squared Euclidean distance.

    Args:
        mels: Log-mel spectrograms of the reference items, ``(N, n_mels, frames)`` (any trailing shape), in the
            same normalisation as the queries.
        params: Normalised parameters ``(N, P)`` of the reference items.
        rows: Store rows of the reference items (default ``0..N-1``), reported back with the neighbours.
        device: Where distances are computed.
    """

    def __init__(self, mels: np.ndarray, params: np.ndarray, rows: np.ndarray | None = None,
                 device: str | torch.device = "cpu") -> None:
        if len(mels) != len(params):
            raise ValueError(f"{len(mels)} mels but {len(params)} parameter vectors")
        if len(mels) == 0:
            raise ValueError("retrieval needs at least one reference item")
        self.device = torch.device(device)
        self._keys = torch.as_tensor(np.asarray(mels, dtype=np.float32).reshape(len(mels), -1), device=self.device)
        self._norms = (self._keys * self._keys).sum(dim=1)
        self.params = np.asarray(params, dtype=np.float64)
        self.rows = np.arange(len(mels)) if rows is None else np.asarray(rows)

    def __len__(self) -> int:
        return len(self.params)

    @torch.no_grad()
    def search(self, queries: np.ndarray, k: int = 1, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into the index) and squared distances of the ``k`` nearest items of each query.

        Returns:
            ``(positions, distances)``, both ``(B, k)``, nearest first.
        """
        q_all = torch.as_tensor(np.asarray(queries, dtype=np.float32), device=self.device)
        q_all = q_all.reshape(q_all.shape[0], -1)
        if q_all.shape[1] != self._keys.shape[1]:
            raise ValueError(f"query features have {q_all.shape[1]} values, the index {self._keys.shape[1]}")
        k = min(int(k), len(self))
        positions, distances = [], []
        for start in range(0, q_all.shape[0], chunk):
            q = q_all[start:start + chunk]
            d = (q * q).sum(dim=1, keepdim=True) - 2.0 * q @ self._keys.T + self._norms[None, :]
            best = torch.topk(d, k, dim=1, largest=False)
            positions.append(best.indices.cpu().numpy())
            distances.append(best.values.clamp_min(0).cpu().numpy())
        return np.concatenate(positions), np.concatenate(distances)

    def predict_params(self, queries: np.ndarray) -> np.ndarray:
        """Parameters ``(B, P)`` of the nearest reference item of each query."""
        positions, _ = self.search(queries, k=1)
        return self.params[positions[:, 0]]
