#!/usr/bin/env python
"""Explore vs random: do a run's latent neighbours of held-out presets sound closer than random presets?

For each preset of a store's test split (or ``--items`` of them), :func:`patchflow.apps.explore.explore` draws
``--count`` latent neighbours at ``--radius`` (duplicates dropped, as ``patchflow explore`` does) and, for each
neighbour, a control: the preset moved by the same parameter distance in a random direction. Both are rendered and
scored by spectral convergence (SC, linear-magnitude mel) to the preset's rendering. Per preset the script keeps the
mean SC of its neighbours and of its controls, and reports over the presets:

* the mean of each, with a 95% bootstrap interval (:func:`patchflow.evaluation.metrics.bootstrap_ci`);
* the share of presets whose neighbours are closer on average (explore wins), and the paired two-sided Wilcoxon
  signed-rank p-value (:func:`patchflow.evaluation.metrics.paired_comparison`);
* the number of distinct neighbours per preset (and the presets where every sample decoded to the preset itself).

Several radii (``--radius 0.5,1,2``) are measured on the same presets, one row each.

Example::

    python scripts/explore_vs_random.py --data s.zarr --run runs/flow_post --radius 0.25,0.5,1 \\
        --json explore_vs_random.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from patchflow.apps.common import ApplicationError
from patchflow.apps.explore import explore
from patchflow.data.store import open_store
from patchflow.evaluation.metrics import bootstrap_ci, paired_comparison
from patchflow.runtime import load_run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="store whose held-out presets are explored")
    parser.add_argument("--run", required=True, type=Path, help="a trained run of a latent model")
    parser.add_argument("--split", default="test", choices=("test", "valid"), help="held-out split (default test)")
    parser.add_argument("--items", type=int, default=None, help="first N presets of the split (default: all)")
    parser.add_argument("--spread", action="store_true", help="with --items, N presets evenly spaced over the "
                        "split (a grouped split's first presets come from few sources)")
    parser.add_argument("--radius", default="0.5", help="latent std of the neighbourhood, comma-separated for "
                        "several (default 0.5, explore's default)")
    parser.add_argument("--count", type=int, default=16, help="latent samples per preset (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (the same for every preset)")
    parser.add_argument("--workers", type=int, default=1, help="render threads (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="write the per-preset results and the summary here")
    return parser.parse_args(argv)


def _mean_ci(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    low, high = bootstrap_ci(finite)
    return {"mean": float(finite.mean()) if finite.size else float("nan"), "ci_low": low, "ci_high": high}


def compare(run: Any, store: Any, rows: np.ndarray, *, radius: float, count: int, seed: int,
            workers: int) -> dict[str, Any]:
    """Explore around each row's preset and compare the neighbours with the random controls.

    Returns ``{"summary": ..., "per_preset": [...]}``; a preset whose samples all decode to itself has NaN SCs
    and is left out of the means and the paired test (counted in ``summary["no_neighbour"]``).
    """
    per_preset = []
    for row in rows:
        preset = store.preset(int(row))
        try:
            result = explore(run, preset, radius=radius, count=count, seed=seed, workers=workers)
        except ApplicationError:  # every sample decoded to the preset itself
            per_preset.append({"row": int(row), "name": preset.name, "encoded_by": None, "distinct": 0,
                               "param_distance": float("nan"), "neighbour_sc": float("nan"),
                               "random_sc": float("nan")})
            continue
        per_preset.append({"row": int(row), "name": preset.name, "encoded_by": result.encoded_by,
                           "distinct": int(len(result.params)),
                           "param_distance": float(result.param_distance.mean()),
                           "neighbour_sc": float(result.audio_distance.mean()),
                           "random_sc": float(result.control_audio_distance.mean())})
    neighbour = np.array([p["neighbour_sc"] for p in per_preset])
    control = np.array([p["random_sc"] for p in per_preset])
    distinct = np.array([p["distinct"] for p in per_preset], dtype=np.float64)
    paired = paired_comparison(neighbour, control)
    summary = {
        "radius": radius, "count": count, "presets": len(per_preset),
        "neighbour_sc": _mean_ci(neighbour), "random_sc": _mean_ci(control),
        "difference": _mean_ci(neighbour - control),
        "explore_wins": paired["a_better"], "random_wins": paired["b_better"], "p_value": paired["p_value"],
        "paired_presets": paired["n"],
        "param_distance": _mean_ci(np.array([p["param_distance"] for p in per_preset])),
        "distinct": {"mean": float(distinct.mean()), "min": int(distinct.min()), "max": int(distinct.max())},
        "no_neighbour": int(np.sum(distinct == 0)),
        "encoded_by": {how: sum(p["encoded_by"] == how for p in per_preset)
                       for how in sorted({p["encoded_by"] for p in per_preset if p["encoded_by"]})},
    }
    return {"summary": summary, "per_preset": per_preset}


def _ci(cell: dict[str, float], digits: int = 3) -> str:
    return f"{cell['mean']:.{digits}f} [{cell['ci_low']:.{digits}f}, {cell['ci_high']:.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    radii = [float(r) for r in args.radius.split(",") if r.strip()]
    store = open_store(args.data)
    run = load_run(args.run)
    rows = store.split_indices(args.split)
    if args.items is not None and args.items < len(rows):
        rows = rows[np.unique(np.linspace(0, len(rows) - 1, args.items).round().astype(np.int64))] if args.spread \
            else rows[:args.items]
    print(f"{len(rows)} {args.split} presets of {args.data}, run {args.run}, radius {radii}, {args.count} samples "
          f"each", file=sys.stderr)
    results = []
    for radius in radii:
        started = time.monotonic()
        result = compare(run, store, rows, radius=radius, count=args.count, seed=args.seed, workers=args.workers)
        result["summary"]["seconds"] = time.monotonic() - started
        results.append(result)
        print(f"  radius {radius}: {result['summary']['seconds']:.0f} s", file=sys.stderr)

    for how, n in results[0]["summary"]["encoded_by"].items():
        print(f"{n} of {len(rows)} presets encoded by {how}", file=sys.stderr)
    print("\n| radius | presets | distinct neighbours (mean, min-max) | parameter distance | SC neighbours | "
          "SC random, same distance | explore wins | Wilcoxon p |\n|---|---|---|---|---|---|---|---|")
    for result in results:
        s = result["summary"]
        print(f"| {s['radius']:g} | {s['paired_presets']} | {s['distinct']['mean']:.1f} ({s['distinct']['min']}-"
              f"{s['distinct']['max']}) | {_ci(s['param_distance'])} | {_ci(s['neighbour_sc'])} | "
              f"{_ci(s['random_sc'])} | {s['explore_wins']:.0%} | {s['p_value']:.2g} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"store": str(args.data), "run": str(args.run), "split": args.split,
                                         "seed": args.seed, "results": results}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
