"""Metrics of the evaluation beside the audio distances: parameter error, categorical accuracy, summaries with
bootstrap confidence intervals and paired comparisons.

The audio distances the search minimises too (spectral convergence, spectrogram MSE) live in
:mod:`patchflow.runtime.distances`, the other audio metrics in :mod:`patchflow.evaluation.audio_metrics`. Every
metric function works on one item or on a batch (leading axis) and returns one value per item.
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


#: Bootstrap resamples, confidence level and seed of the intervals of :func:`summarise`.
BOOTSTRAP_RESAMPLES, CONFIDENCE, BOOTSTRAP_SEED = 1000, 0.95, 0


def bootstrap_ci(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE,
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of the finite values.

    ``resamples`` times, draw ``n`` values with replacement (``numpy.random.default_rng(seed)``) and take their
    mean; the interval runs between the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those
    means. Seeded, so a report is reproducible. ``(nan, nan)`` without finite values; one value gives a
    zero-width interval.

    Example:
        >>> low, high = bootstrap_ci(np.arange(100.0))
        >>> bool(low < 49.5 < high), round(high - low)
        (True, 11)
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return float("nan"), float("nan")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = np.empty(int(resamples))
    step = max(1, 2_000_000 // finite.size)  # resamples per batch: a bounded index array
    for start in range(0, len(means), step):
        count = min(step, len(means) - start)
        means[start:start + count] = finite[rng.integers(0, finite.size, size=(count, finite.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarise(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE,
              resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, float]:
    """Mean, standard deviation (population), median and count of the finite values (``n_nonfinite`` counts
    the others), and the bootstrap confidence interval of the mean (:func:`bootstrap_ci`): ``ci_low``,
    ``ci_high`` at level ``ci``."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = arr[np.isfinite(arr)]
    low, high = bootstrap_ci(finite, confidence, resamples, seed)
    interval = {"ci_low": low, "ci_high": high, "ci": float(confidence)}
    if finite.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0,
                "n_nonfinite": int(arr.size), **interval}
    return {"mean": float(finite.mean()), "std": float(finite.std()), "median": float(np.median(finite)),
            "n": int(finite.size), "n_nonfinite": int(arr.size - finite.size), **interval}


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
