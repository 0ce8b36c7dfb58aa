#!/usr/bin/env python
"""Best of N by re-rendering: a generative model's N samples against retrieval's N nearest neighbours.

For every test item of a store, each method proposes N candidate parameter vectors; the candidates are rendered
by the synth and ranked by spectral convergence to the target, exactly as the synth-in-the-loop search ranks them
(:class:`patchflow.runtime.search.AudioObjective`, which renders each distinct native preset once), and the best
one is reported with its spectral convergence (SC) and its multi-scale mel distance (MSS, dB, Hayes et al. 2025).
N grows by nesting (the best of 4 is taken among the first 4 of the 16 ...), so the columns of one method share
their candidates.

Methods:
    retrieval: the N training presets nearest to the target in normalised log-mel.
    <run> samples: N draws from the run's p(v | x) (models that can sample, such as ``flow_gen``).
    <run> prediction: the run's single best guess (``predict_params``), N = 1 only; any model.
    retrieval + <run> samples: neighbours and draws taken in turn (the first N hold N/2 of each, the nearest
        neighbour first), the candidate sets ``evaluate`` and ``match`` combine.

Seconds per item are wall-clock seconds of proposing the candidates (sampling, or the neighbour search) plus
rendering and scoring the new ones, measured cumulatively per item with one render thread by default.

``--against OTHER.json`` pairs the results with an earlier measurement's (``--json``) on the same voices (two
stores built from the same corpus with other synthetic presets, or two runs on one store given the same run
names): for every method and N both hold, the ratio of the means, the shares of voices where each is better and
the paired Wilcoxon p-value, on SC and MSS.

Example::

    python scripts/measure_best_of_n.py --data s.zarr --run runs/flow_gen --run runs/cnn --n 1,4,16,64 \\
        --json best_of_n.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from patchflow.data.render import SynthPool
from patchflow.data.store import open_store
from patchflow.evaluation import audio_metrics as A
from patchflow.evaluation.metrics import paired_comparison, summarise
from patchflow.runtime import load_run
from patchflow.runtime.inference import model_samples, normalised_mel, predict_params
from patchflow.runtime.retrieval import MelRetrieval
from patchflow.runtime.search import AudioObjective


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="store whose test split is matched")
    parser.add_argument("--run", action="append", default=[], type=Path, help="a trained run (repeat for more)")
    parser.add_argument("--n", default="1,4,16,64", help="candidate counts, comma-separated (default 1,4,16,64)")
    parser.add_argument("--items", type=int, default=None, help="first N test items only (default: all)")
    parser.add_argument("--spread", action="store_true", help="with --items, N items evenly spaced over the test "
                        "split (a grouped split's first items come from few sources)")
    parser.add_argument("--workers", type=int, default=1, help="render threads (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples")
    parser.add_argument("--mode-temperature", type=float, default=None, help="temperature of flow_gen's best guess "
                        "(its option mode_temperature), instead of the one the run was trained with")
    parser.add_argument("--json", type=Path, default=None, help="write the per-item results and the summary here")
    parser.add_argument("--against", type=Path, default=None, help="pair the results with those of an earlier "
                        "--json on the same voices")
    return parser.parse_args(argv)


def earlier_measurement(path: Path, sources: list[str]) -> dict:
    """An earlier ``--json`` to pair with, checked to hold the same voices (``sources``) as this measurement.

    Raises:
        ValueError: It cannot be read, or it scored other voices.
    """
    try:
        other = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"--against {path}: cannot read it ({error})") from error
    if other.get("sources") != sources:
        raise ValueError(f"--against {path}: it scored other voices (or was written before the items' sources were "
                         "recorded); measure both with the same --items and --spread on the same corpus")
    return other


def paired_against(results: dict[str, dict[int, dict[str, list[float]]]], other: dict) -> list[dict]:
    """Pair ``results`` with an earlier measurement's, method by method and N by N, on SC and MSS."""
    rows = []
    for name, per_n in results.items():
        for n, cell in per_n.items():
            theirs = other["per_item"].get(name, {}).get(str(n))
            if theirs is None:
                continue
            row = {"method": name, "n": n}
            for metric in ("sc", "mss"):
                a, b = np.asarray(cell[metric]), np.asarray(theirs[metric])
                row[metric] = {"ratio": float(a.mean() / b.mean()), **paired_comparison(a, b)}
            rows.append(row)
    return rows


def spread(rows: np.ndarray, count: int) -> np.ndarray:
    """``count`` of ``rows`` evenly spaced from the first to the last (all of them when there are fewer)."""
    if count >= len(rows):
        return rows
    return rows[np.unique(np.linspace(0, len(rows) - 1, max(0, count)).round().astype(np.int64))]


def best_of(objective: AudioObjective, candidates: np.ndarray, counts: list[int], propose_seconds: list[float],
            ) -> tuple[list[int], list[float], list[float]]:
    """Indices of the best candidate among the first N, their SC and the cumulative seconds, for each N."""
    best, sc, seconds = [], [], []
    elapsed = 0.0
    for n, propose in zip(counts, propose_seconds):
        start = time.perf_counter()
        scores = objective(candidates[:n])  # renders only the candidates it has not seen (its cache)
        elapsed += time.perf_counter() - start
        k = int(np.argmin(scores))
        best.append(k)
        sc.append(float(scores[k]))
        seconds.append(elapsed + propose)
    return best, sc, seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    counts = sorted({int(n) for n in args.n.split(",") if n.strip()})
    largest = counts[-1]
    store = open_store(args.data)
    table, spec, render, base = store.parameters, store.features, store.render_settings, store.base_preset
    rows = store.split_indices("test")
    if args.items is not None:
        rows = spread(rows, args.items) if args.spread else rows[:args.items]
    sources = [store.sources[int(row)] for row in rows]
    other = None
    if args.against is not None:
        try:
            other = earlier_measurement(args.against, sources)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    audio = store.read_rows("audio", rows, np.float32)
    raw_mel = store.read_rows("mel", rows, np.float32)
    train_rows = store.split_indices("train")
    train_params = store.read_rows("params", train_rows)
    retrieval = MelRetrieval(store.normalise_mel(store.read_rows("mel", train_rows, np.float32)), train_params,
                             rows=train_rows)
    runs = [load_run(path) for path in args.run]
    if args.mode_temperature is not None:
        if not args.mode_temperature > 0:
            raise SystemExit(f"--mode-temperature must be positive, got {args.mode_temperature}")
        for run in runs:
            if hasattr(run.model, "mode_temperature"):
                run.model.mode_temperature = args.mode_temperature
    rate = spec.sample_rate
    print(f"{len(rows)} test items of {args.data}, N = {counts}, {len(runs)} run(s)", file=sys.stderr)

    # Per method: (name, counts it is measured at, proposer(i) -> (candidates (N, P), seconds per count)).
    def propose_retrieval(i: int) -> tuple[np.ndarray, list[float]]:
        query = store.normalise_mel(raw_mel[i:i + 1])
        times = []
        for n in counts:
            start = time.perf_counter()
            positions, _ = retrieval.search(query, k=n)
            times.append(time.perf_counter() - start)
        return train_params[positions[0]], times

    methods = [("retrieval", counts, propose_retrieval)]
    for run in runs:
        mels = normalised_mel(run, raw_mel)
        if run.model.can_sample:
            generator = torch.Generator().manual_seed(args.seed)

            def propose_samples(i: int, run=run, mels=mels, generator=generator) -> tuple[np.ndarray, list[float]]:
                times = []
                for n in counts:  # time each N on its own: drawing 4 costs less than drawing 64
                    start = time.perf_counter()
                    drawn = model_samples(run.model, mels[i:i + 1], n, generator)[0]
                    times.append(time.perf_counter() - start)
                return drawn, times

            methods.append((f"{run.name} samples", counts, propose_samples))

            def propose_both(i: int, run=run, mels=mels, generator=torch.Generator().manual_seed(args.seed),
                             ) -> tuple[np.ndarray, list[float]]:
                times = []
                for n in counts:
                    start = time.perf_counter()
                    positions, _ = retrieval.search(store.normalise_mel(raw_mel[i:i + 1]), k=(n + 1) // 2)
                    drawn = model_samples(run.model, mels[i:i + 1], n // 2, generator)[0]
                    times.append(time.perf_counter() - start)
                both = np.empty((len(positions[0]) + len(drawn), len(table)))
                both[0::2], both[1::2] = train_params[positions[0]], drawn
                return both, times

            methods.append((f"retrieval + {run.name} samples", counts, propose_both))

        def propose_prediction(i: int, run=run, mels=mels) -> tuple[np.ndarray, list[float]]:
            start = time.perf_counter()
            guess = predict_params(run.model, mels[i:i + 1])
            return guess, [time.perf_counter() - start]

        methods.append((f"{run.name} prediction", [1], propose_prediction))

    results: dict[str, dict[int, dict[str, list[float]]]] = {
        name: {n: {"sc": [], "mss": [], "seconds": []} for n in ns} for name, ns, _ in methods}
    started = time.monotonic()
    with SynthPool(store.synth_id, args.workers) as pool:
        for i in range(len(rows)):
            for name, ns, propose in methods:
                objective = AudioObjective(audio[i], pool, render, base, table, spec, metric="sc")
                candidates, propose_seconds = propose(i)
                best, sc, seconds = best_of(objective, candidates, ns, propose_seconds)
                chosen = objective.render(candidates[best])
                mss = A.mss(np.repeat(audio[i:i + 1], len(best), axis=0), chosen, rate)
                for n, s, m, t in zip(ns, sc, mss, seconds):
                    cell = results[name][n]
                    cell["sc"].append(s)
                    cell["mss"].append(float(m))
                    cell["seconds"].append(t)
            if (i + 1) % 25 == 0 or i + 1 == len(rows):
                print(f"  {i + 1}/{len(rows)} items, {time.monotonic() - started:.0f} s", file=sys.stderr)

    summary = {name: {n: {k: summarise(v) for k, v in cell.items()} for n, cell in per_n.items()}
               for name, per_n in results.items()}
    print(f"\n| method | N | SC | MSS (dB) | s / item |\n|---|---|---|---|---|")
    for name, per_n in summary.items():
        for n, cell in per_n.items():
            sc, mss = cell["sc"], cell["mss"]
            print(f"| {name} | {n} | {sc['mean']:.3f} ± {(sc['ci_high'] - sc['ci_low']) / 2:.3f} | "
                  f"{mss['mean']:.2f} ± {(mss['ci_high'] - mss['ci_low']) / 2:.2f} | "
                  f"{cell['seconds']['mean']:.2f} |")
    against = None
    if other is not None:
        against = paired_against(results, other)
        print(f"\nAgainst {args.against} (A: this measurement, B: that one; Wilcoxon p paired on the same voices)"
              "\n\n| method | N | SC A / B | A better | B better | p | MSS A / B | p |"
              "\n|---|---|---|---|---|---|---|---|")
        for row in against:
            sc, mss = row["sc"], row["mss"]
            print(f"| {row['method']} | {row['n']} | {sc['ratio']:.2f}x | {sc['a_better']:.0%} | "
                  f"{sc['b_better']:.0%} | {sc['p_value']:.2g} | {mss['ratio']:.2f}x | {mss['p_value']:.2g} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"store": str(args.data), "runs": [str(r) for r in args.run],
                                         "items": int(len(rows)), "rows": [int(r) for r in rows],
                                         "sources": sources, "counts": counts, "seed": args.seed,
                                         "workers": args.workers, "summary": summary, "per_item": results,
                                         "against": against}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
