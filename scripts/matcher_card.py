#!/usr/bin/env python
"""The figures of a pretrained matcher's model card: ``patchflow match`` against retrieval alone, on sounds the
matcher never saw.

Sounds:
    held-out voices: voices of the store's test split (authors kept out of training and, with the recipe's
        ``INDEX_SPLIT=train+valid``, out of the index), rendered by the synth at notes other than the store's
        (a seeded choice among :data:`NOTES`);
    recordings (``--recordings DIR``): every audio file under DIR (``scripts/build_ood_set.sh`` writes
        instruments, other synths and voices).

Each sound is written to a WAV file and read back by :func:`patchflow.apps.matching.read_target`, as
``patchflow match`` reads it (onset, length rule, pitch estimate). Methods:
    mean preset: the mean of the indexed voices' parameters, played at the sound's pitch (what knowing nothing
        about the sound gives);
    retrieval: the index's nearest voice played at the sound's pitch, no rendering (what a lookup gives);
    retrieval + refinement: ``match`` without the model: the index's ``--neighbours`` nearest voices ranked by
        rendering at the sound's pitch and, when that is not the store's note, those of the unshifted sound at
        the store's note (match's note rule), then the same local search within the same budget (what the model
        adds to lookup and search);
    model: the shipped model's prediction alone, at the sound's pitch;
    match: ``patchflow match`` (:func:`patchflow.apps.matching.match_sound`) with the default budget.
Each result is rendered and scored against the sound's clip, its level matched by the least-squares gain on the
magnitude mel (as ``match`` ranks): SC on the run's 128-band linear mel, MSS (dB, three resolutions, Hayes et
al. 2025) and the paper's SC (64-band power mel). Means carry 95% bootstrap intervals; ``match`` is compared with
``retrieval`` item by item (ratio of means, share of items better, paired Wilcoxon p).

Example::

    python scripts/matcher_card.py --bundle adapters/dexed/patchflow_dexed/pretrained --data s.zarr \\
        --recordings ood/audio --count 60 --json card.json --markdown card.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile
import torch

from patchflow.apps.matching import (NEIGHBOURS, REFINE_STARTS, features_of_heard, heard_sound, match_sound,
                                     matching_facts, read_target, retrieval_level, search_space)
from patchflow.data.importing import AUDIO_SUFFIXES
from patchflow.data.features import magnitude_mel
from patchflow.data.render import SynthPool
from patchflow.data.store import open_store
from patchflow.evaluation import audio_metrics as A
from patchflow.evaluation.metrics import bootstrap_ci, paired_comparison
from patchflow.runtime import distances as D
from patchflow.runtime import load_run
from patchflow.runtime.index import load_index
from patchflow.runtime.inference import predict_params
from patchflow.runtime.rendering import lift_normalised, render_normalised
from patchflow.runtime.search import AudioObjective, one_torch_thread, refine

#: Notes the held-out voices are played at (none is the store's 60).
NOTES = (43, 48, 52, 55, 64, 67, 72, 76)
#: Methods in report order; the last is compared with the first.
METHODS = ("mean preset", "retrieval", "retrieval + refinement", "model", "match")
#: Name of the set of held-out voices.
HELD_OUT = "held-out voices at other notes"
#: Metrics in report order (lower is better for each).
METRICS = ("sc", "mss", "sc_paper")


def held_out_sounds(store_path: Path, run, count: int, seed: int, folder: Path, workers: int | None) -> list[Path]:
    """Render ``count`` test voices of the store at notes of :data:`NOTES` into WAV files (the voices as the
    store plays them: whole voices for a store of every parameter, learned values over its base preset else)."""
    store = open_store(store_path)
    rows = store.split_indices("test")
    rows = rows[store.ok[rows]]
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(rows, size=min(count, len(rows)), replace=False))
    notes = rng.choice(NOTES, size=len(chosen))
    params = np.asarray(store.array("params")[chosen], dtype=np.float64)
    base = store.base_preset
    paths = []
    with SynthPool(run.synth_id, workers) as pool:
        for note in sorted(set(notes.tolist())):
            pick = np.flatnonzero(notes == note)
            settings = replace(run.render_settings, note=int(note))
            audio = render_normalised(pool, settings, base, store.parameters, params[pick])
            for i, clip in zip(pick, audio):
                path = folder / f"voice-{int(chosen[i]):05d}-note{int(note)}.wav"
                soundfile.write(path, clip, settings.sample_rate, subtype="FLOAT")
                paths.append(path)
    return sorted(paths)


def scores_of(target: np.ndarray, audio: np.ndarray, run) -> dict[str, float]:
    """Metrics of one rendering against the target clip, the rendering's level matched on the magnitude mel."""
    spec = run.feature_settings
    t, e = magnitude_mel(target[None], spec), magnitude_mel(audio[None], spec)
    gain = float(np.sum(t * e) / max(float(np.sum(e * e)), 1e-12))
    audio = audio * max(gain, 0.0)
    e = e * max(gain, 0.0)
    extra = A.audio_scores(target[None], audio[None], spec.sample_rate, metrics=("mss", "sc_paper"))
    return {"sc": float(D.spectral_convergence(t, e)[0]), "mss": float(extra["mss"][0]),
            "sc_paper": float(extra["sc_paper"][0])}


def retrieved(index, run, sound: np.ndarray, from_note: int, level: float, neighbours: int
              ) -> tuple[np.ndarray, torch.Tensor]:
    """The index's nearest voices to ``sound`` as ``match`` reads it from ``from_note`` (at the index's level),
    and the model's input."""
    heard = heard_sound(run, sound, from_note)
    mel, raw, _ = features_of_heard(run, heard, level)
    indexed_level = retrieval_level(index, level)
    if indexed_level != level:
        raw = features_of_heard(run, heard, indexed_level)[1]
    positions, _ = index.search(raw, k=neighbours)
    return index.params[positions[0]], mel


def measure(path: Path, run, index, base, level: float, budget: float, neighbours: int, seed: int,
            workers: int | None, metric: str, starts: int = REFINE_STARTS) -> dict:
    """Every method on one sound file."""
    target = read_target(path, run.render_settings)
    model_note = run.render_settings.note
    found, mel = retrieved(index, run, target.sound, target.note, level, neighbours)
    out: dict = {"file": path.name, "note": target.note, "pitch_hz": target.pitch.to_json().get("hz"),
                 "scores": {}, "seconds": {}}
    space = search_space(run, index)
    with one_torch_thread(), SynthPool(run.synth_id, workers) as pool:
        def objective_at(note: int) -> AudioObjective:
            return AudioObjective(target.audio, pool, replace(run.render_settings, note=note), base, space,
                                  run.feature_settings, match_level=True, metric=metric)

        at_pitch = objective_at(target.note)
        started = time.monotonic()
        # match's note rule without the model: the voices retrieved for the sound as heard, played at its pitch,
        # and, when that is not the store's note, those retrieved for the unshifted sound played at the store's
        chosen, ranked = at_pitch, at_pitch.rank(found, "retrieval")
        if target.note != model_note:
            at_model = objective_at(model_note)
            other = at_model.rank(retrieved(index, run, target.sound, model_note, level, neighbours)[0],
                                  "retrieval")
            if other[0].distance < ranked[0].distance:
                chosen, ranked = at_model, other
        searched = refine(chosen, ranked, budget, top=starts, seed=seed)
        out["seconds"]["retrieval + refinement"] = time.monotonic() - started
        out["scores"]["mean preset"] = scores_of(target.audio, at_pitch.render(index.params.mean(axis=0))[0], run)
        out["scores"]["retrieval"] = scores_of(target.audio, at_pitch.render(found[:1])[0], run)
        out["scores"]["retrieval + refinement"] = scores_of(target.audio, chosen.render(searched[0].params[None])[0],
                                                            run)
        prediction = lift_normalised(predict_params(run.model, mel), run.parameters, space, base)
        out["scores"]["model"] = scores_of(target.audio, at_pitch.render(prediction)[0], run)
    started = time.monotonic()
    result = match_sound(run, target.audio, sound=target.sound, note=target.note, index=index, base_preset=base,
                         level=level, budget_seconds=budget, neighbours=neighbours, seed=seed, workers=workers,
                         metric=metric, refine_starts=starts)
    out["seconds"]["match"] = time.monotonic() - started
    out["match_note"] = result.settings.note
    with SynthPool(run.synth_id, workers) as pool:
        audio = render_normalised(pool, result.settings, base, result.parameters or run.parameters,
                                  result.best.params[None])[0]
    out["scores"]["match"] = scores_of(target.audio, audio, run)
    return out


def summarise(items: list[dict]) -> dict:
    """Means with intervals per method and metric, and match against retrieval."""
    summary: dict = {"n": len(items), "methods": {}, "match_vs_retrieval": {}}
    for method in METHODS:
        summary["methods"][method] = {}
        for metric in METRICS:
            values = np.array([item["scores"][method][metric] for item in items])
            low, high = bootstrap_ci(values)
            summary["methods"][method][metric] = {"mean": float(np.mean(values)) if len(values) else float("nan"),
                                                  "ci": [low, high]}
    for metric in METRICS:
        ours = np.array([item["scores"]["match"][metric] for item in items])
        lookup = np.array([item["scores"]["retrieval"][metric] for item in items])
        comparison = paired_comparison(ours, lookup)
        comparison["ratio"] = float(np.mean(ours) / np.mean(lookup)) if len(items) else float("nan")
        summary["match_vs_retrieval"][metric] = comparison
    summary["match_seconds"] = float(np.mean([item["seconds"]["match"] for item in items])) if items else 0.0
    return summary


def markdown(report: dict) -> str:
    """The card's table: one block per set of sounds."""
    lines = []
    for name, part in report["sets"].items():
        s = part["summary"]
        lines += [f"**{name}** ({s['n']} sounds; `match` took {s['match_seconds']:.1f} s per sound)", "",
                  "| method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for method in METHODS:
            cells = [f"{s['methods'][method][m]['mean']:.3f} [{s['methods'][method][m]['ci'][0]:.3f}, "
                     f"{s['methods'][method][m]['ci'][1]:.3f}]" for m in METRICS]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        versus = s["match_vs_retrieval"]
        cells = [f"{versus[m]['ratio']:.2f}x, better on {100 * versus[m]['a_better']:.0f}%, p={versus[m]['p_value']:.1e}"
                 for m in METRICS]
        lines += ["| match / retrieval | " + " | ".join(cells) + " |", ""]
        groups = sorted({item["group"] for item in part["items"] if "group" in item})
        for group in groups:
            chosen = [item for item in part["items"] if item.get("group") == group]
            ratios = [np.mean([i["scores"]["match"][m] for i in chosen]) /
                      np.mean([i["scores"]["retrieval"][m] for i in chosen]) for m in METRICS]
            lines.append(f"- {group} ({len(chosen)}): match / retrieval "
                         + ", ".join(f"{m} {r:.2f}x" for m, r in zip(METRICS, ratios)))
        if groups:
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="The matcher (a run directory with index.npz).")
    parser.add_argument("--data", type=Path, help="The store whose test split gives the held-out voices.")
    parser.add_argument("--recordings", type=Path, help="A folder of recordings (searched recursively).")
    parser.add_argument("--count", type=int, default=60, help="Held-out voices (default 60).")
    parser.add_argument("--budget", type=float, default=2.0, help="Search seconds per sound (match's default 2).")
    parser.add_argument("--neighbours", type=int, default=NEIGHBOURS, help=f"Retrieved voices ranked by rendering "
                        f"(match's default {NEIGHBOURS}).")
    parser.add_argument("--metric", default="sc+db", help="Distance that ranks candidates and drives the search "
                        "(match's default sc+db).")
    parser.add_argument("--refine-starts", type=int, default=REFINE_STARTS, help="Candidates the search starts "
                        f"from, the budget shared between them (match's default {REFINE_STARTS}).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="Render threads.")
    parser.add_argument("--json", type=Path, help="Write the report here.")
    parser.add_argument("--markdown", type=Path, help="Write the card's table here.")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    run = load_run(args.bundle)
    index = load_index(run.index_path)
    base, level, _ = matching_facts(run, None, index)
    report: dict = {"bundle": str(args.bundle), "budget": args.budget, "neighbours": args.neighbours,
                    "seed": args.seed, "metric": args.metric, "refine_starts": args.refine_starts,
                    "index_voices": len(index), "index_parameters": len(index.parameters), "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sets: dict[str, list[Path]] = {}
        if args.data is not None:
            sets[HELD_OUT] = held_out_sounds(args.data, run, args.count, args.seed,
                                                                   Path(tmp), args.workers)
        if args.recordings is not None:
            sets["recordings"] = sorted(p for p in args.recordings.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not sets:
            parser.error("give --data, --recordings or both")
        for name, paths in sets.items():
            items = []
            for i, path in enumerate(paths):
                items.append(measure(path, run, index, base, level, args.budget, args.neighbours, args.seed,
                                     args.workers, args.metric, args.refine_starts))
                if name == "recordings":
                    items[-1]["group"] = path.parent.name
                played = re.search(r"-note(\d+)\.wav$", path.name) if name == HELD_OUT else None
                if played:
                    items[-1]["rendered_note"] = int(played.group(1))
                best = items[-1]["scores"]
                print(f"{name} {i + 1}/{len(paths)} {path.name}: SC retrieval {best['retrieval']['sc']:.3f}, "
                      f"match {best['match']['sc']:.3f}", file=sys.stderr, flush=True)
            report["sets"][name] = {"items": items, "summary": summarise(items)}
    table = markdown(report)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
