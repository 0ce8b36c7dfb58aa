#!/usr/bin/env python
"""Do the semantic dimensions of a ``flow_dis`` run move the sound the way their names say?

A ``flow_dis`` run puts each tag pair of its store (``Percussive/Sustained``, ``Brass/Strings`` ...) on its own
dimension of a disentangled space: tagged training presets of the positive side are pulled towards ``+mu*`` on
that dimension, the negative side towards ``-mu*``. Whether moving a preset along the dimension then makes it
*sound* more like the side it moves to is a separate question, answered here by a listener that never saw the
model: a classifier trained on audio.

For every tag pair:

1. **The listener.** A logistic regression predicts the side from audio features: the mean and the standard
   deviation over time of each log-mel bin (dB) of the store's renders, standardised with training statistics,
   classes weighted equally, L2 penalty chosen on the valid split (balanced accuracy) when it holds both sides,
   else a fixed default. It is fitted on the store's *train* rows that carry the tag and scored on the *test* rows
   that carry it (balanced accuracy, chance 0.5; plain accuracy against the majority side's share), so the
   listener is validated on presets of banks it did not see (with ``--split grouped`` stores).
2. **The moves.** Held-out presets (a seeded sample of the *test* split, tagged or not) are encoded, mapped into
   the disentangled space, and their coordinate on the pair's dimension is set to ``-span`` and to ``+span``
   (default ``mu*``, the centres the training pulled each side to), every other coordinate kept; the codes are
   mapped back, decoded to parameters through ``p(v|z)`` and rendered by the real synth over the store's base
   preset. The unmoved code is decoded and rendered too, as the baseline. ``--encode audio`` (default) encodes
   the preset's stored log-mel with the run's encoder (the posterior mean) and decodes with the model's best
   prediction; ``--encode params`` encodes through :func:`patchflow.runtime.inference.latent_of_preset` (the
   inverse regression flow for flow models; what the studio's macro-knobs use) and decodes through the
   invertible map. Either way the report says how far the unmoved decode is from the preset's own parameters
   (``roundtrip``), and how large the codes are: a code far outside the prior (``|z|`` of thousands) is one the
   model never saw, and moving it says nothing about the knob.
3. **The axis in latent space.** Before any rendering: the tagged *test* presets are encoded the same way and
   the sign of their coordinate on the pair's dimension is compared with their tag (balanced accuracy, chance
   0.5; and the mean coordinate of each side, which training pulls to ``+mu*`` and ``-mu*``). An axis that does
   not even separate held-out presets by their tag cannot be expected to move sounds towards them.
4. **The verdict.** The listener labels every render. Reported per pair, each with a 95% percentile bootstrap
   interval (:func:`patchflow.evaluation.metrics.bootstrap_ci`): the share of ``+span`` renders it assigns to the
   positive side, the share of ``-span`` renders it assigns to the negative side, the share of the unmoved
   renders it calls positive (what the side shares are compared with: an axis that did nothing would leave it
   unchanged at both ends), and the share of presets whose probability of the positive side is higher at
   ``+span`` than at ``-span`` (chance 0.5).

An axis "does what its name says" when both side shares clear the baseline (positive share above it at
``+span``, negative share above ``1 - baseline`` at ``-span``) with intervals that exclude it, *and* the
listener itself is above chance (the interval of its balanced test accuracy, bootstrapped from per-item values
whose mean it is, excludes 50%); a listener near chance makes the shares meaningless whatever they are. The
one-line verdict also says when the axis does not separate the tagged test presets (its interval holds 50%).

Writes a markdown table (stdout, and ``--markdown``) and JSON (``--json``).

Example::

    python scripts/semantic_axes.py --run build/semantic/run --presets 300 \\
        --json build/semantic/axes-best.json --markdown build/semantic/axes-best.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from patchflow.apps.macro import latent_from_semantic
from patchflow.data.features import log_mel
from patchflow.data.render import SynthPool
from patchflow.data.store import PresetStore, open_store
from patchflow.evaluation.metrics import bootstrap_ci
from patchflow.runtime import load_run
from patchflow.runtime.inference import INVERSE_FLOW, latent_of_preset, normalised_mel, params_from_latent
from patchflow.runtime.rendering import presets_from_normalised
from patchflow.runtime.run import Run

#: L2 penalties tried on the valid split (per-sample mean loss + lam * |w|^2, standardised features).
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: The penalty used when the valid split lacks a side.
L2_DEFAULT = 1e-2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a flow_dis run directory")
    parser.add_argument("--data", type=Path, default=None, help="its tagged store (default: the run's store)")
    parser.add_argument("--presets", type=int, default=300,
                        help="held-out (test split) presets moved per pair, a seeded sample (default 300)")
    parser.add_argument("--span", type=float, default=None,
                        help="move to -SPAN and +SPAN on the pair's dimension (default: the model's mu*, 2)")
    parser.add_argument("--workers", type=int, default=None, help="render threads (default: one per core)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--encode", choices=("audio", "params"), default="audio",
                        help="encode the presets' stored log-mels with the encoder (default) or their parameters "
                             "through the inverse regression flow")
    parser.add_argument("--seed", type=int, default=0, help="seed of the preset sample")
    parser.add_argument("--checkpoint", default="best", help="best or last")
    parser.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the markdown table here")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- listener
def mel_features(mel: np.ndarray) -> np.ndarray:
    """``(N, 2 * n_mels)``: mean and standard deviation over time of each bin of raw log-mels ``(N, n_mels, T)``."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.concatenate([mel.mean(axis=2), mel.std(axis=2)], axis=1)


def read_mels(store: PresetStore, rows: np.ndarray, batch: int = 256) -> np.ndarray:
    """Raw log-mels of ``rows`` (read a batch at a time)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    out = [store.read_rows("mel", rows[i:i + batch], np.float32) for i in range(0, len(rows), batch)]
    return np.concatenate(out) if out else np.zeros((0,) + tuple(store.mel.shape[1:]), dtype=np.float32)


class Listener:
    """Class-balanced L2 logistic regression on standardised features (full-batch L-BFGS in float64)."""

    def __init__(self, lam: float = L2_DEFAULT) -> None:
        self.lam = float(lam)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "Listener":
        """``y`` in {0, 1} (1: the positive side)."""
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0) + 1e-6
        xs = torch.as_tensor((x - self.mean) / self.scale)
        yt = torch.as_tensor(y, dtype=torch.float64)
        n_pos = max(float(yt.sum()), 1.0)
        n_neg = max(float(len(yt) - yt.sum()), 1.0)
        weights = torch.where(yt > 0, 0.5 / n_pos, 0.5 / n_neg)  # each side weighs half
        w = torch.zeros(xs.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                                line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits = xs @ w + b
            loss = (weights * torch.nn.functional.binary_cross_entropy_with_logits(
                logits, yt, reduction="none")).sum() + self.lam * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.w, self.b = w.detach().numpy(), float(b.detach())
        return self

    def prob(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive side."""
        logits = ((x - self.mean) / self.scale) @ self.w + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    recalls = [float(np.mean(predicted[y == c] == c)) for c in (0, 1) if np.any(y == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def train_listener(store: PresetStore, pair: int) -> tuple[Listener, dict[str, Any]]:
    """The listener of tag pair ``pair`` and its report (sizes, chosen penalty, test accuracies)."""
    tags = np.asarray(store.array("tags")[:], dtype=np.int8)[:, pair]
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("train", "valid", "test"):
        rows = store.split_indices(split)
        rows = np.sort(rows[tags[rows] != 0])
        splits[split] = (mel_features(read_mels(store, rows)), (tags[rows] > 0).astype(np.int64))
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = splits["train"], splits["valid"], splits["test"]
    counts = {s: {"positive": int(y.sum()), "negative": int(len(y) - y.sum())} for s, (_, y) in splits.items()}
    if len(set(y_tr.tolist())) < 2:
        raise SystemExit(f"tag pair {store.tag_pairs[pair]!r}: the train split needs tagged presets of both sides "
                         f"({counts['train']})")
    lam, chosen_by = L2_DEFAULT, "default (the valid split lacks a side)"
    if min(counts["valid"].values()) >= 5:
        scores = {l: balanced_accuracy(y_va, (Listener(l).fit(x_tr, y_tr).prob(x_va) >= 0.5).astype(int))
                  for l in L2_GRID}
        lam = max(L2_GRID, key=lambda l: (scores[l], l))  # ties: the stronger penalty
        chosen_by = "valid balanced accuracy"
    listener = Listener(lam).fit(x_tr, y_tr)
    report: dict[str, Any] = {"counts": counts, "l2": lam, "l2_chosen_by": chosen_by,
                              "train_balanced_accuracy": balanced_accuracy(
                                  y_tr, (listener.prob(x_tr) >= 0.5).astype(int))}
    if len(y_te) and len(set(y_te.tolist())) == 2:
        predicted = (listener.prob(x_te) >= 0.5).astype(int)
        correct = (predicted == y_te).astype(float)
        # per-item values whose mean is the balanced accuracy: each side's items share half the weight
        weighted = correct * len(y_te) / (2.0 * np.where(y_te == 1, y_te.sum(), len(y_te) - y_te.sum()))
        report.update({
            "test_accuracy": float(correct.mean()), "test_accuracy_ci": list(bootstrap_ci(correct)),
            "test_majority_share": float(max(y_te.mean(), 1 - y_te.mean())),
            "test_balanced_accuracy": balanced_accuracy(y_te, predicted),
            "test_balanced_accuracy_ci": list(bootstrap_ci(weighted)),
            "test_recall_positive": float(np.mean(predicted[y_te == 1] == 1)),
            "test_recall_negative": float(np.mean(predicted[y_te == 0] == 0))})
    else:
        report.update({"test_accuracy": float("nan"), "test_accuracy_ci": [float("nan")] * 2,
                       "test_majority_share": float("nan"), "test_balanced_accuracy": float("nan"),
                       "test_balanced_accuracy_ci": [float("nan")] * 2,
                       "test_recall_positive": float("nan"), "test_recall_negative": float("nan"),
                       "note": "the test split lacks tagged presets of a side: the listener is not validated"})
    return listener, report


# ---------------------------------------------------------------------------------------------------- moves
#: How :func:`held_out_codes` says it encoded the stored mels.
ENCODER = "encoder (stored log-mel)"


def held_out_codes(run: Run, store: PresetStore, rows: np.ndarray, encode: str = "audio",
                   batch: int = 64) -> tuple[torch.Tensor, str]:
    """Latent codes ``(N, D)`` of the store's ``rows`` and how they were found: the encoder on the stored
    log-mels (``audio``) or :func:`~patchflow.runtime.inference.latent_of_preset` (``params``)."""
    if encode == "audio":
        model = run.model
        model.eval()
        device = next(model.parameters()).device
        mel = read_mels(store, rows)
        with torch.no_grad():
            z = [model.encode(normalised_mel(run, mel[i:i + batch]).to(device)).cpu()
                 for i in range(0, len(mel), batch)]
        return torch.cat(z), ENCODER
    codes, hows = [], set()
    for r in rows:
        z, how = latent_of_preset(run, store.preset(int(r)))
        codes.append(z)
        hows.add(how)
    return torch.cat(codes), hows.pop() if len(hows) == 1 else ", ".join(sorted(hows))


def roundtrip(run: Run, store: PresetStore, rows: np.ndarray, z: torch.Tensor, how: str) -> dict[str, Any]:
    """How the unmoved codes decode: the share of presets given back exactly (every learned parameter within
    1e-3), the median over presets of the mean absolute error of the normalised parameters, and the median and
    largest ``max |z|`` of the codes (the prior is a standard normal)."""
    own = store.read_rows("params", np.sort(rows), np.float64)
    decoded = params_from_latent(run, z, classify=how != INVERSE_FLOW)
    err = np.abs(decoded - own)
    size = z.abs().amax(dim=1).double().numpy()
    return {"exact_share": float(np.mean(err.max(axis=1) < 1e-3)), "median_mae": float(np.median(err.mean(axis=1))),
            "median_max_abs_z": float(np.median(size)), "max_abs_z": float(size.max())}


def moved_params(run: Run, z: torch.Tensor, pair: int, values: Sequence[float | None],
                 how: str) -> list[np.ndarray]:
    """Parameters ``(N, P)`` of the codes moved to each of ``values`` on the pair's disentangled dimension
    (``None``: unmoved, the decode of the preset's own code)."""
    model = run.model
    device = next(model.parameters()).device
    classify = how != INVERSE_FLOW
    out = []
    with torch.no_grad():
        s = model.semantic_from_latent(z.to(device, torch.float32))
        for value in values:
            if value is None:
                codes = z
            else:
                moved = s.clone()
                moved[:, pair] = float(value)
                codes = latent_from_semantic(model, moved)
            out.append(params_from_latent(run, codes.cpu(), classify=classify))
    return out


def latent_separation(run: Run, store: PresetStore, pair: int, encode: str) -> dict[str, Any]:
    """How the pair's disentangled coordinate of the tagged test presets follows their tag."""
    tags = np.asarray(store.array("tags")[:], dtype=np.int8)[:, pair]
    rows = store.split_indices("test")
    rows = np.sort(rows[tags[rows] != 0])
    if not len(rows):
        return {"n": 0, "balanced_accuracy": float("nan"), "balanced_accuracy_ci": [float("nan")] * 2,
                "mean_positive": float("nan"), "mean_negative": float("nan")}
    z, _ = held_out_codes(run, store, rows, encode)
    model = run.model
    with torch.no_grad():
        coord = model.semantic_from_latent(z.to(next(model.parameters()).device))[:, pair].cpu().double().numpy()
    y = (tags[rows] > 0).astype(np.int64)
    predicted = (coord > 0).astype(np.int64)
    both = len(set(y.tolist())) == 2
    weighted = (predicted == y) * len(y) / (2.0 * np.where(y == 1, y.sum(), len(y) - y.sum())) if both else []
    return {"n": int(len(rows)), "balanced_accuracy": balanced_accuracy(y, predicted) if both else float("nan"),
            "balanced_accuracy_ci": list(bootstrap_ci(weighted)) if both else [float("nan")] * 2,
            "mean_positive": float(coord[y == 1].mean()) if (y == 1).any() else float("nan"),
            "mean_negative": float(coord[y == 0].mean()) if (y == 0).any() else float("nan")}


def share(flags: np.ndarray) -> dict[str, Any]:
    flags = np.asarray(flags, dtype=np.float64)
    low, high = bootstrap_ci(flags)
    return {"share": float(flags.mean()) if len(flags) else float("nan"), "ci": [low, high], "n": int(len(flags))}


def measure(run: Run, store: PresetStore, *, presets: int = 300, span: float | None = None, seed: int = 0,
            workers: int | None = None, encode: str = "audio") -> dict[str, Any]:
    """The report (see the module docs) as a dictionary."""
    model = run.model
    if not hasattr(model, "disentangling_flow") or not run.tag_pairs:
        raise SystemExit(f"{run.run_dir}: not a flow_dis run with tag pairs")
    if list(run.tag_pairs) != list(store.tag_pairs):
        raise SystemExit(f"the run's tag pairs {list(run.tag_pairs)} are not the store's {list(store.tag_pairs)}")
    if span is None:
        span = float(getattr(model.disentangling_flow, "mu_star", 2.0))
    test_rows = store.split_indices("test")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(test_rows, size=min(presets, len(test_rows)), replace=False))
    if not len(rows):
        raise SystemExit(f"{store.path}: no test presets to move")
    started = time.monotonic()
    z, how = held_out_codes(run, store, rows, encode)
    base = store.base_preset
    tags_all = np.asarray(store.array("tags")[:], dtype=np.int8)
    report: dict[str, Any] = {
        "run": str(run.run_dir), "store": str(store.path), "checkpoint": run.checkpoint,
        "epochs": run.checkpoint_info.get("epoch"), "span": span, "encoded_by": how,
        "presets": int(len(rows)), "seed": seed, "features": "mean and std over time of each log-mel bin (dB)",
        "roundtrip": roundtrip(run, store, rows, z, how), "pairs": []}
    with SynthPool(run.synth_id, workers) as synths:
        for k, pair in enumerate(run.tag_pairs):
            positive, _, negative = pair.partition("/")
            listener, classifier = train_listener(store, k)
            probs = {}
            for label, params in zip(("minus", "own", "plus"),
                                     moved_params(run, z, k, (-span, None, span), how)):
                names = [f"{pair} {label} {i}" for i in range(len(params))]
                audio = synths.render(presets_from_normalised(base, run.parameters, params, names=names),
                                      run.render_settings)
                probs[label] = listener.prob(mel_features(log_mel(audio, run.feature_settings).numpy()))
            own_tags = tags_all[rows, k]
            entry = {
                "pair": pair, "dim": k, "positive": positive, "negative": negative, "classifier": classifier,
                "latent": latent_separation(run, store, k, encode),
                "plus_is_positive": share(probs["plus"] >= 0.5),
                "minus_is_negative": share(probs["minus"] < 0.5),
                "own_is_positive": share(probs["own"] >= 0.5),
                "plus_above_minus": share(probs["plus"] > probs["minus"]),
                "mean_prob_positive": {k2: float(v.mean()) for k2, v in probs.items()},
                "tagged_moved": {"positive": int((own_tags > 0).sum()), "negative": int((own_tags < 0).sum())}}
            entry["verdict"] = verdict(entry)
            report["pairs"].append(entry)
    report["seconds"] = time.monotonic() - started
    return report


def verdict(entry: dict[str, Any]) -> str:
    """One phrase: does the axis move the sound the way its name says?"""
    clf = entry["classifier"]
    bal = clf["test_balanced_accuracy"]
    if not np.isfinite(bal):
        return "listener not validated (a side is missing from the test split)"
    near_chance = not clf["test_balanced_accuracy_ci"][0] > 0.5
    baseline = entry["own_is_positive"]["share"]
    plus, minus = entry["plus_is_positive"], entry["minus_is_negative"]
    toward_pos = plus["ci"][0] > baseline
    toward_neg = minus["ci"][0] > 1 - baseline
    if toward_pos and toward_neg:
        said = "yes: both ends move the sound towards their side"
    elif toward_pos or toward_neg:
        side = entry["positive"] if toward_pos else entry["negative"]
        said = f"partly: only the {side} end moves the sound towards its side"
    elif plus["ci"][1] < baseline and minus["ci"][1] < 1 - baseline:
        said = "no: the axis moves the sound the opposite way"
    else:
        said = "no: the renders do not move towards either side"
    notes = []
    if near_chance:
        notes.append("the listener is near chance: its test interval holds 50%")
    lat = entry["latent"]
    if np.isfinite(lat["balanced_accuracy"]) and not lat["balanced_accuracy_ci"][0] > 0.5:
        notes.append("the axis does not separate held-out presets by their tag")
    return said + (f" ({'; '.join(notes)})" if notes else "")


# ---------------------------------------------------------------------------------------------------- output
def _pct(item: dict[str, Any]) -> str:
    low, high = item["ci"]
    return f"{100 * item['share']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| pair (+/-) | listener: test balanced acc. [95% CI] (chance 50%) | listener test acc. vs majority | "
        "axis sign vs tag, test (chance 50%); mean coord. +/- | unmoved called + | at +span called + | "
        "at -span called - | + above - (chance 50%) | verdict |",
        "|---|---|---|---|---|---|---|---|---|"]
    for e in report["pairs"]:
        c = e["classifier"]
        n = c["counts"]
        sizes = (f"train {n['train']['positive']}+/{n['train']['negative']}-, "
                 f"test {n['test']['positive']}+/{n['test']['negative']}-")
        if np.isfinite(c["test_balanced_accuracy"]):
            low, high = c["test_balanced_accuracy_ci"]
            listener = f"{100 * c['test_balanced_accuracy']:.0f}% [{100 * low:.0f}, {100 * high:.0f}] ({sizes})"
            acc = (f"{100 * c['test_accuracy']:.0f}% [{100 * c['test_accuracy_ci'][0]:.0f}, "
                   f"{100 * c['test_accuracy_ci'][1]:.0f}] vs {100 * c['test_majority_share']:.0f}%")
        else:
            listener, acc = f"not validated ({sizes})", "-"
        lat = e["latent"]
        if np.isfinite(lat["balanced_accuracy"]):
            low, high = lat["balanced_accuracy_ci"]
            axis = (f"{100 * lat['balanced_accuracy']:.0f}% [{100 * low:.0f}, {100 * high:.0f}]; "
                    f"{lat['mean_positive']:+.3g} / {lat['mean_negative']:+.3g}")
        else:
            axis = "-"
        lines.append(f"| {e['pair']} | {listener} | {acc} | {axis} | {_pct(e['own_is_positive'])} | "
                     f"{_pct(e['plus_is_positive'])} | {_pct(e['minus_is_negative'])} | "
                     f"{_pct(e['plus_above_minus'])} | {e['verdict']} |")
    lines.append("")
    trip = report["roundtrip"]
    lines.append(f"{report['presets']} test presets per pair, encoded by {report['encoded_by']}, moved to "
                 f"-{report['span']:g} and +{report['span']:g} on the pair's dimension; checkpoint "
                 f"{report['checkpoint']} (epoch {report['epochs']}). Unmoved decode: "
                 f"{100 * trip['exact_share']:.0f}% of presets given back exactly, median mean absolute error "
                 f"{trip['median_mae']:.3f} of the normalised parameters; codes' max |z| median "
                 f"{trip['median_max_abs_z']:.3g}, largest {trip['max_abs_z']:.3g}.")
    return "\n".join(lines) + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = load_run(args.run, checkpoint=args.checkpoint)
    store = open_store(args.data or run.store_path)
    report = measure(run, store, presets=args.presets, span=args.span, seed=args.seed, workers=args.workers,
                     encode=args.encode)
    table = markdown(report)
    sys.stdout.write(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table, encoding="utf-8")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_finite(report), indent=1), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
