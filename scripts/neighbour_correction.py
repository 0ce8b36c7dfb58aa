#!/usr/bin/env python
"""Can a learned model improve on the nearest training preset? A retrieval-anchored corrector, measured.

The models of patchflow read a sound and regress its parameters, and on the DX7 corpus they lose to plain
nearest-neighbour retrieval (the training guide). One reason: the map from sound to parameters is many-to-one
(operators can swap roles, ratios trade off), so a regressor averages between configurations that sound alike.
Retrieval does not average: it answers with one real configuration. This experiment tests the middle way. A small
network sees the sound, the log-mel of its nearest training preset and that preset's parameters, and predicts the
sound's parameters as classes of each parameter's native grid; its logits start at "keep the neighbour's value"
(the neighbour's class gets a learned bonus), so it moves away from the neighbour only where training says so.

* **Training pairs**: each training preset with one of its ``--pair-neighbours`` nearest training presets by
  *another* author folder (log-mel distance, drawn anew each epoch), so that the pairs look like a held-out voice
  and its retrieved neighbour.
* **Test**: the first ``--items`` test voices of the store (as ``patchflow evaluate --max-items`` takes them), each
  with its nearest training preset over the whole training split (the evaluation's retrieval row). Both answers
  are rendered and scored with the evaluation's SC and MSS; the paired Wilcoxon test compares them.

Example::

    python scripts/neighbour_correction.py --data build/pretrained/dx7-16.zarr --train-seconds 900 --items 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from patchflow.data.features import magnitude_mel
from patchflow.data.render import SynthPool
from patchflow.data.splits import group_keys
from patchflow.data.store import open_store
from patchflow.evaluation import audio_metrics as A
from patchflow.evaluation.metrics import bootstrap_ci, paired_comparison
from patchflow.runtime.retrieval import MelRetrieval
from patchflow.runtime import distances as D
from patchflow.runtime.rendering import render_normalised


def nearest_other_group(keys: torch.Tensor, groups: np.ndarray, k: int, chunk: int = 512) -> np.ndarray:
    """For each row of ``keys`` the ``k`` nearest rows (squared Euclidean) of another group, ``(N, k)``; where
    fewer than ``k`` rows belong to other groups, the nearest other rows of any group make up the rest."""
    norms = (keys * keys).sum(dim=1)
    codes = torch.as_tensor(np.unique(groups, return_inverse=True)[1])
    k = min(k, len(keys) - 1)
    out = []
    for start in range(0, len(keys), chunk):
        q = keys[start:start + chunk]
        d = norms[start:start + chunk, None] - 2.0 * q @ keys.T + norms[None, :]
        same = codes[start:start + chunk, None] == codes[None, :]
        d = d + same * (d.max() + 1.0)  # another group first, then the same group's
        d[torch.arange(len(q)), torch.arange(start, start + len(q))] = float("inf")  # never the row itself
        out.append(torch.topk(d, k, dim=1, largest=False).indices.numpy())
    return np.concatenate(out)


class Corrector(nn.Module):
    """Sound and neighbour log-mels (two channels) and the neighbour's classes -> logits of each parameter."""

    def __init__(self, cardinalities: list[int], width: int = 32) -> None:
        super().__init__()
        self.cards = cardinalities
        layers, channels = [], 2
        for out in (width // 2, width, width, 2 * width):
            layers += [nn.Conv2d(channels, out, 5, stride=2, padding=2), nn.BatchNorm2d(out), nn.ELU()]
            channels = out
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten())
        given = sum(cardinalities)
        self.head = nn.Sequential(nn.Linear(channels * 16 + given, 256), nn.ELU(), nn.Dropout(0.2),
                                  nn.Linear(256, given))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.keep = nn.Parameter(torch.full((len(cardinalities),), 4.0))  # the neighbour's bonus, per parameter

    def forward(self, mel: torch.Tensor, neighbour_mel: torch.Tensor, neighbour_classes: torch.Tensor
                ) -> list[torch.Tensor]:
        onehots = [F.one_hot(neighbour_classes[:, i], n).float() for i, n in enumerate(self.cards)]
        h = self.encoder(torch.stack([mel, neighbour_mel], dim=1))
        logits = self.head(torch.cat([h, *onehots], dim=1)).split(self.cards, dim=1)
        return [lg + self.keep[i] * onehots[i] for i, lg in enumerate(logits)]


def loss_of(logits: list[torch.Tensor], classes: torch.Tensor) -> torch.Tensor:
    return sum(F.cross_entropy(lg, classes[:, i]) for i, lg in enumerate(logits)) / len(logits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="A store with train and test splits.")
    parser.add_argument("--train-seconds", type=float, default=900, help="Training time (default 900).")
    parser.add_argument("--items", type=int, default=300, help="Test voices scored (default 300).")
    parser.add_argument("--pair-neighbours", type=int, default=4, help="Neighbours a training pair is drawn from.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2).")
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    store = open_store(args.data)
    table = store.parameters
    specs = [table[i] for i in range(len(table))]
    steps = np.array([(s.step or 1.0) if s.is_continuous else 1.0 for s in specs])  # DX7's values are integers
    lows = np.array([s.native_low for s in specs])
    cards = [int(round((s.native_high - s.native_low) / step)) + 1 for s, step in zip(specs, steps)]

    def classes_of(rows: np.ndarray) -> np.ndarray:
        params = store.read_rows("params", rows, np.float64)
        return ((table.to_native(params) - lows) / steps).round().astype(np.int64)

    def mels_of(rows: np.ndarray) -> torch.Tensor:
        mel = store.read_rows("mel", rows, np.float32)
        return torch.as_tensor(store.normalise_mel(mel))

    started = time.monotonic()
    train_rows, test_rows = store.split_indices("train"), store.split_indices("test")[:args.items]
    valid_rows = store.split_indices("valid")[:500]
    train_mel, train_classes = mels_of(train_rows), torch.as_tensor(classes_of(train_rows))
    keys = train_mel.flatten(1)
    retrieval = MelRetrieval(keys.numpy(), np.zeros((len(keys), 0)))
    groups = np.asarray(group_keys([str(s) for s in store.read_rows("sources", train_rows)], "folder"))
    pairs = nearest_other_group(keys, groups, args.pair_neighbours)
    valid_mel, valid_classes = mels_of(valid_rows), torch.as_tensor(classes_of(valid_rows))
    valid_nb = retrieval.search(valid_mel.numpy())[0][:, 0]
    print(f"{len(train_rows)} training presets, pairs found in {time.monotonic() - started:.0f} s", flush=True)

    model = Corrector(cards)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def valid_figures() -> tuple[float, float, float]:
        model.eval()
        with torch.no_grad():
            logits = model(valid_mel, train_mel[valid_nb], train_classes[valid_nb])
            predicted = torch.stack([lg.argmax(dim=1) for lg in logits], dim=1)
            loss = float(loss_of(logits, valid_classes))
        model.train()
        exact = (predicted == valid_classes).float().mean().item()
        copied = (train_classes[valid_nb] == valid_classes).float().mean().item()
        return loss, exact, copied

    print("epoch | valid CE | class accuracy (model / neighbour)", flush=True)
    trained_from, epoch = time.monotonic(), 0
    while time.monotonic() - trained_from < args.train_seconds:
        epoch += 1
        order = rng.permutation(len(train_rows))
        partner = pairs[np.arange(len(train_rows)), rng.integers(0, args.pair_neighbours, len(train_rows))]
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            nb = partner[batch]
            loss = loss_of(model(train_mel[batch], train_mel[nb], train_classes[nb]), train_classes[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if time.monotonic() - trained_from >= args.train_seconds:
                break
        loss, exact, copied = valid_figures()
        print(f"{epoch} | {loss:.3f} | {exact:.3f} / {copied:.3f}", flush=True)

    test_mel = mels_of(test_rows)
    test_nb = retrieval.search(test_mel.numpy())[0][:, 0]
    model.eval()
    with torch.no_grad():
        logits = model(test_mel, train_mel[test_nb], train_classes[test_nb])
    predicted = torch.stack([lg.argmax(dim=1) for lg in logits], dim=1).numpy()
    answers = {"retrieval": table.to_normalised(train_classes[test_nb].numpy() * steps + lows),
               "corrected": table.to_normalised(predicted * steps + lows)}
    changed = float((predicted != train_classes[test_nb].numpy()).any(axis=1).mean())
    audio = store.read_rows("audio", test_rows, np.float32)
    spec = store.features
    target_mel, target = magnitude_mel(audio, spec), A.features(audio, spec.sample_rate, metrics=("mss",))
    pool = SynthPool(store.synth_id, 2)
    scores: dict[str, dict[str, np.ndarray]] = {}
    try:
        for name, params in answers.items():
            rendered = render_normalised(pool, store.render_settings, store.base_preset, table, params)
            compared = A.compare(target, A.features(rendered, spec.sample_rate, metrics=("mss",)), metrics=("mss",))
            scores[name] = {"sc": D.spectral_convergence(target_mel, magnitude_mel(rendered, spec)),
                            "mss": np.asarray(compared["mss"])}
    finally:
        pool.close()
    figures: dict[str, object] = {"epochs": epoch, "test_items": len(test_rows), "changed": changed}
    print(f"\n{len(test_rows)} test voices; the corrector changed the neighbour's answer on {changed:.0%}\n")
    print("| answer | SC | MSS (dB) |\n|---|---|---|")
    for name, s in scores.items():
        row = {k: (float(v.mean()), *bootstrap_ci(v)) for k, v in s.items()}
        figures[name] = row
        print(f"| {name} | {row['sc'][0]:.3f} [{row['sc'][1]:.3f}, {row['sc'][2]:.3f}] | "
              f"{row['mss'][0]:.2f} [{row['mss'][1]:.2f}, {row['mss'][2]:.2f}] |")
    for metric in ("sc", "mss"):
        cmp = paired_comparison(scores["corrected"][metric], scores["retrieval"][metric])
        figures[f"paired_{metric}"] = cmp
        print(f"{metric}: corrected better on {cmp['a_better']:.0%}, retrieval on {cmp['b_better']:.0%}, "
              f"p = {cmp['p_value']:.2g}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
