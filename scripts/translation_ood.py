#!/usr/bin/env python
"""Does translation help matching out of domain? ``patchflow match`` with and without ``--translate``, for each
translation model trained for the same fixed time, on recordings the matcher never heard.

Each model (``unit``, ``umt``) is trained from the store of the recordings (domain A, ``dataset import-audio``)
into the matcher's synth store (domain B) for ``--train-seconds`` on one thread (``translate train`` with a time
limit; a rerun with the same ``--work`` folder continues the runs). Every recording is then matched as
``patchflow match`` matches it (:func:`patchflow.apps.matching.match_sound`: the model's proposals, the retrieval,
the local search within ``--budget``), once as it is and once per translation model, the model and the retrieval
reading the translated sound (UNIT: its log-mel translated; UMT: the log-mel of the audio it generates). The best
candidate is rendered and scored against the recording itself with the model card's metrics
(``scripts/matcher_card.py``'s ``scores_of``: SC on the 128-band linear mel and MSS, the rendering's level matched
by least squares). Means carry 95% bootstrap intervals; each translated match is compared with the plain match
sound by sound (ratio of means, share of sounds better, paired Wilcoxon p).

Note that the translation models are trained on the very recordings they are evaluated on (domain A is the set
itself; no labels or presets of it are used): the question is whether the unpaired translation moves these sounds
to where the matcher does better, not whether it generalises to other recordings.

Example::

    python scripts/translation_ood.py --bundle adapters/dexed/patchflow_dexed/pretrained \\
        --recordings build/pretrained/ood/audio --a build/pretrained/ood/ood.zarr --b build/pretrained/dx7-16.zarr \\
        --train-seconds 360 --per-group 10 --work build/translation-ood --json ood.json --markdown ood.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from patchflow.apps.matching import match_sound, matching_facts, read_target
from patchflow.data.importing import AUDIO_SUFFIXES
from patchflow.data.render import SynthPool
from patchflow.data.store import open_store
from patchflow.evaluation.metrics import paired_comparison
from patchflow.evaluation.metrics import summarise as summarise_values
from patchflow.models.umt import UmtConfig
from patchflow.models.unit import UnitConfig
from patchflow.runtime import load_run
from patchflow.runtime.index import load_index
from patchflow.runtime.rendering import render_normalised
from patchflow.runtime.translation import load_translator
from patchflow.training.translation import TranslationTrainConfig, train_translation

METRICS = ("sc", "mss")
PLAIN = "match"


def _card():
    """``scripts/matcher_card.py`` as a module (its ``scores_of``: the model card's metrics)."""
    spec = importlib.util.spec_from_file_location("matcher_card", Path(__file__).with_name("matcher_card.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recordings(folder: Path, per_group: int | None, seed: int) -> list[Path]:
    """Every audio file under ``folder``, or a seeded choice of ``per_group`` per sub-folder (kind of sound)."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if per_group is None:
        return paths
    rng = np.random.default_rng(seed)
    chosen: list[Path] = []
    for group in sorted({p.parent for p in paths}):
        members = [p for p in paths if p.parent == group]
        chosen += [members[i] for i in sorted(rng.choice(len(members), min(per_group, len(members)), replace=False))]
    return chosen


def train_models(a: Path, b: Path, work: Path, models: dict[str, object], seconds: float, seed: int
                 ) -> dict[str, dict]:
    """Train each model from ``a`` to ``b`` for ``seconds`` (one torch thread; 0: take the runs in ``work`` as
    they are); returns what each run did."""
    done = {}
    for name, model in models.items():
        if seconds == 0:
            steps = [json.loads(line) for line in (work / name / "metrics.jsonl").read_text().splitlines()]
            done[name] = {"run": str(work / name), "steps": steps[-1]["step"], "seconds": None, "terms": steps[-1]}
            continue
        config = TranslationTrainConfig(steps=10**9, batch_size=8, seed=seed, checkpoint_every=500, model=model,
                                        max_seconds=seconds)
        started = time.monotonic()
        summary = train_translation(a, b, work / name, config)
        elapsed = time.monotonic() - started
        done[name] = {"run": str(work / name), "steps": summary["step"], "seconds": elapsed,
                      "terms": summary["terms"]}
        print(f"trained {name}: {summary['step']} iterations in {elapsed:.0f} s", file=sys.stderr, flush=True)
    return done


def match_one(path: Path, run, index, store, base, level, budget: float, neighbours: int, seed: int, translator,
              scores_of) -> tuple[dict, float]:
    """Match one recording (translated by ``translator`` when given) and score the best candidate against it."""
    target = read_target(path, run.render_settings)
    unit = translator is not None and translator.kind == "unit"
    started = time.monotonic()
    result = match_sound(run, target.audio, sound=target.sound, note=target.note, index=index, store=store,
                         base_preset=base, level=level, budget_seconds=budget, neighbours=neighbours, seed=seed,
                         workers=1, translate=translator.translate_mel if unit else None,
                         translate_audio=translator.translate_wave if translator is not None and not unit else None)
    seconds = time.monotonic() - started
    parameters = getattr(result, "parameters", None) or run.parameters
    with SynthPool(run.synth_id, 1) as pool:
        audio = render_normalised(pool, result.settings, base, parameters, result.best.params[None])[0]
    return scores_of(target.audio, audio, run), seconds


def summarise(items: list[dict], conditions: list[str]) -> dict:
    """Means with 95% bootstrap intervals per condition and metric (:func:`patchflow.evaluation.metrics.summarise`),
    and each translated condition against the plain match."""
    summary: dict = {"n": len(items), "conditions": {}, "versus_plain": {}}
    for condition in conditions:
        summary["conditions"][condition] = {m: summarise_values([item["scores"][condition][m] for item in items])
                                            for m in METRICS}
        summary["conditions"][condition]["seconds"] = float(np.mean([item["seconds"][condition] for item in items]))
    plain = {m: np.array([item["scores"][PLAIN][m] for item in items]) for m in METRICS}
    for condition in conditions:
        if condition == PLAIN:
            continue
        summary["versus_plain"][condition] = {}
        for metric in METRICS:
            ours = np.array([item["scores"][condition][metric] for item in items])
            comparison = paired_comparison(ours, plain[metric])
            comparison["ratio"] = float(np.mean(ours) / np.mean(plain[metric]))
            summary["versus_plain"][condition][metric] = comparison
    return summary


def markdown(report: dict) -> str:
    """The table: one row per condition (means [95% CI]), one per translated condition against the plain match,
    then the ratios by kind of recording."""
    s = report["summary"]
    lines = [f"{s['n']} recordings; translation models trained on one thread ("
             + ", ".join(f"{k}: {v['steps']} iterations" for k, v in report["training"].items()) + ")", "",
             "| condition | " + " | ".join(METRICS) + " | s per match |", "|---|" + "---|" * (len(METRICS) + 1)]
    for condition, values in s["conditions"].items():
        cells = [f"{values[m]['mean']:.3f} [{values[m]['ci_low']:.3f}, {values[m]['ci_high']:.3f}]" for m in METRICS]
        lines.append(f"| {condition} | " + " | ".join(cells) + f" | {values['seconds']:.1f} |")
    for condition, versus in s["versus_plain"].items():
        cells = [f"{versus[m]['ratio']:.2f}x, better on {100 * versus[m]['a_better']:.0f}%, "
                 f"p={versus[m]['p_value']:.1e}" for m in METRICS]
        lines.append(f"| {condition} / match | " + " | ".join(cells) + " | |")
    lines.append("")
    groups = sorted({item["group"] for item in report["items"]})
    for group in groups:
        chosen = [item for item in report["items"] if item["group"] == group]
        parts = []
        for condition in s["versus_plain"]:
            ratios = [np.mean([i["scores"][condition][m] for i in chosen]) /
                      np.mean([i["scores"][PLAIN][m] for i in chosen]) for m in METRICS]
            parts.append(f"{condition} / match " + ", ".join(f"{m} {r:.2f}x" for m, r in zip(METRICS, ratios)))
        lines.append(f"- {group} ({len(chosen)}): " + "; ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="The matcher (a run directory).")
    parser.add_argument("--recordings", type=Path, required=True, help="The recordings (searched recursively; "
                        "their sub-folders are the kinds of sound).")
    parser.add_argument("--a", type=Path, required=True, help="The recordings' store (domain A).")
    parser.add_argument("--b", type=Path, required=True, help="The synth's store (domain B).")
    parser.add_argument("--data", type=Path, help="A store to retrieve from when the matcher has no index.")
    parser.add_argument("--work", type=Path, required=True, help="Folder of the translation runs.")
    parser.add_argument("--models", default="unit,umt", help="Translation models to train (default unit,umt).")
    parser.add_argument("--umt-config", type=Path, help="A JSON file of UMT settings (default: the CPU size).")
    parser.add_argument("--train-seconds", type=float, default=360.0, help="Training time of each model (0: use "
                        "the runs in --work as they are; a rerun with more continues them).")
    parser.add_argument("--per-group", type=int, default=None, help="Recordings per kind (default: all).")
    parser.add_argument("--budget", type=float, default=2.0, help="Search seconds per match (match's default 2).")
    parser.add_argument("--neighbours", type=int, default=8, help="Retrieved voices (match's default 8).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="Write the report here.")
    parser.add_argument("--markdown", type=Path, help="Write the table here.")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    umt = UmtConfig.from_json(json.loads(args.umt_config.read_text())) if args.umt_config else UmtConfig()
    known = {"unit": UnitConfig(), "umt": umt}
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names or any(n not in known for n in names):
        parser.error(f"--models: a comma-separated choice of {', '.join(known)}, got {args.models!r}")
    training = train_models(args.a, args.b, args.work, {n: known[n] for n in names}, args.train_seconds, args.seed)
    run = load_run(args.bundle)
    index = load_index(run.index_path) if run.index_path.exists() else None
    store = open_store(args.data) if args.data is not None and index is None else None
    base, level, _ = matching_facts(run, store, index)
    translators = {n: load_translator(args.work / n, seed=args.seed) for n in names}
    conditions = [PLAIN] + [f"{PLAIN} --translate {n}" for n in names]
    scores_of = _card().scores_of
    items = []
    paths = recordings(args.recordings, args.per_group, args.seed)
    for i, path in enumerate(paths):
        item: dict = {"file": str(path.relative_to(args.recordings)), "group": path.parent.name, "scores": {},
                      "seconds": {}}
        for condition, translator in zip(conditions, [None, *translators.values()]):
            item["scores"][condition], item["seconds"][condition] = match_one(
                path, run, index, store, base, level, args.budget, args.neighbours, args.seed, translator,
                scores_of)
        items.append(item)
        print(f"{i + 1}/{len(paths)} {item['file']}: SC " + ", ".join(
            f"{c} {item['scores'][c]['sc']:.3f}" for c in conditions), file=sys.stderr, flush=True)
    report = {"bundle": str(args.bundle), "a": str(args.a), "b": str(args.b), "train_seconds": args.train_seconds,
              "budget": args.budget, "neighbours": args.neighbours, "seed": args.seed, "training": training,
              "items": items, "summary": summarise(items, conditions)}
    table = markdown(report)
    print(table)
    for path, text in ((args.json, json.dumps(report, indent=1)), (args.markdown, table)):
        if path is not None:
            path.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
