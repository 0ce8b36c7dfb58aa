"""Metrics of the evaluation beside the audio distances: parameter error, categorical accuracy, summaries and
paired comparisons.

The audio distances (spectral convergence, spectrogram MSE) live in :mod:`patchflow.runtime.distances`, since the
search minimises them too. Every function works on one item or on a batch (leading axis) and returns one value per
item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..parameters import ParameterTable


def parameter_mse(target: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Mean squared error of normalised (``[0, 1]``) parameter vectors, per item."""
    t = np.atleast_2d(np.asarray(target, dtype=np.float64))
    e = np.atleast_2d(np.asarray(estimate, dtype=np.float64))
    return np.mean((t - e) ** 2, axis=1)


def categorical_accuracy(target: np.ndarray, estimate: np.ndarray, table: ParameterTable) -> np.ndarray | None:
    """Share of categorical / boolean parameters whose class is right, per item (``None`` if there are none).

    Normalised values are mapped back to classes through the specs, so ``0.49`` and ``0.51`` of a two-choice
    parameter are different classes.
    """
    columns = [i for i, spec in enumerate(table) if not spec.is_continuous]
    if not columns:
        return None
    t = table.to_native(np.atleast_2d(target))[:, columns]
    e = table.to_native(np.atleast_2d(estimate))[:, columns]
    return np.mean(t == e, axis=1)


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean, standard deviation (population), median and count of the finite values (``n_nonfinite`` counts
    the others)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0,
                "n_nonfinite": int(arr.size)}
    return {"mean": float(finite.mean()), "std": float(finite.std()), "median": float(np.median(finite)),
            "n": int(finite.size), "n_nonfinite": int(arr.size - finite.size)}


def paired_comparison(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Compare two per-item error arrays of the same items (lower is better).

    Returns:
        ``a_better``: share of items where ``a < b``; ``b_better``: share where ``b < a``; ``ties``: the rest;
        ``p_value``: two-sided Wilcoxon signed-rank p-value (``nan`` when every pair ties or fewer than two items).
    """
    from scipy.stats import wilcoxon

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same items, got {a.size} and {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = max(a.size, 1)
    result = {"a_better": float(np.sum(a < b) / n), "b_better": float(np.sum(b < a) / n),
              "ties": float(np.sum(a == b) / n), "n": int(a.size), "p_value": float("nan")}
    if a.size >= 2 and np.any(a != b):
        result["p_value"] = float(wilcoxon(a, b, zero_method="wilcox").pvalue)
    return result
