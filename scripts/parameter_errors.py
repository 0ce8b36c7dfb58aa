#!/usr/bin/env python
"""Where a model's parameter errors fall: per learned parameter, on the test split of a store.

For each run it predicts the parameters of the first ``--max-items`` test items, maps them to native values as a
render does (snapped to the parameter's grid, or the nearest class), and prints per parameter the mean absolute
error in native units and the share of items where the value is exactly right. A reference column gives the share
of test items whose value is the training split's most frequent one (what always answering the mode would get).
Normalised errors hide what matters to the sound: a DX7 fine frequency 3 steps off detunes an operator by 3%, and
a pitch-envelope level 1 step off 50 detunes the whole voice, while a mean squared error over [0, 1] calls both
small. ``--json`` writes the table.

Example::

    python scripts/parameter_errors.py build/h/cnn build/h/flow_post --data build/q4/dx7-16.zarr --max-items 200
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from patchflow.data.loader import make_loader
from patchflow.data.store import open_store
from patchflow.runtime import load_run


def native_predictions(run_dir: Path, store, rows: np.ndarray, checkpoint: str) -> np.ndarray:
    """The run's predicted native values for ``rows`` of ``store`` (items x learned parameters)."""
    run = load_run(run_dir, checkpoint=checkpoint)
    out = []
    with torch.no_grad():
        for batch in make_loader(store, rows, 64, shuffle=False):
            out.append(run.model.predict_params(batch["mel"]).float().numpy())
    return store.parameters.to_native(np.concatenate(out).astype(np.float64))


def native_targets(store, rows: np.ndarray) -> np.ndarray:
    """The stored (true) native values of ``rows`` (sorted row numbers), items x learned parameters."""
    return store.parameters.to_native(store.read_rows("params", rows, np.float64))


def modal_values(store) -> np.ndarray:
    """Per learned parameter, its most frequent native value over the training split."""
    train = native_targets(store, np.sort(store.split_indices("train")))
    modes = []
    for column in train.T:
        values, counts = np.unique(column, return_counts=True)
        modes.append(values[np.argmax(counts)])
    return np.asarray(modes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories written by `patchflow train`")
    parser.add_argument("--data", required=True, type=Path, help="the store whose test split is scored")
    parser.add_argument("--max-items", type=int, default=200, help="first N test items (default 200)")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    store = open_store(args.data)
    rows = np.sort(np.asarray(store.split_indices("test"))[: args.max_items])
    if len(rows) == 0:
        print(f"{args.data}: the test split is empty", file=sys.stderr)
        return 1
    truth = native_targets(store, rows)
    modes = modal_values(store)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for i, spec in enumerate(store.parameters):
        table[spec.name] = {"training mode": {"exact": float(np.mean(truth[:, i] == modes[i]))}}
    for run_dir in args.runs:
        predicted = native_predictions(run_dir, store, rows, args.checkpoint)
        for i, spec in enumerate(store.parameters):
            error = np.abs(predicted[:, i] - truth[:, i])
            table[spec.name][run_dir.name] = {"mae": float(error.mean()), "exact": float(np.mean(error == 0))}

    names = [run.name for run in args.runs]
    print(f"{len(rows)} test items of {args.data}; mean absolute error in native units / share exactly right")
    print("| parameter | " + " | ".join(names) + " | training mode: share right |")
    print("|---|" + "---|" * (len(names) + 1))
    for parameter, cells in table.items():
        runs = [f"{cells[n]['mae']:.2f} / {cells[n]['exact']:.0%}" for n in names]
        print(f"| {parameter} | " + " | ".join(runs) + f" | {cells['training mode']['exact']:.0%} |")
    if args.json:
        args.json.write_text(json.dumps({"items": int(len(rows)), "parameters": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
