#!/usr/bin/env python
"""Does a small UMT translate square tones into sine tones? Issue 17's classifier property, measured three ways.

The tests' two tone domains (``tests/tone_domains.py``: 16 square tones as A, 16 sine tones as B) are imported
like a small Dexed store, a UMT of the tests' size is trained from A to B for ``--steps`` iterations on one thread
(``translate train --model umt``; a rerun with the same ``--work`` folder reuses the run), and each square tone is
translated A -> B and, as a control, A -> A (sampled at ``--temperature``). A logistic regression on the time-
averaged dB mel spectrum, fitted on the real clips of both domains, then says which domain each clip sounds like.
The script reports the share of clips it calls B ("sine") for three classifiers and two levels:

- ``rate``: fitted on the clips taken through the model's sample rate (what it cannot hear removed);
- ``heard``: fitted on the clips as the model can write them (its sample rate and 256 mu-law classes), which is
  the fair reference: the ``rate`` classifier calls even a perfect mu-law copy of a sine tone "square";
- ``shape``: as ``heard``, on each spectrum relative to its loudest band, so the clip's level cannot decide;

with the translations at the sources' level and 12 dB under it (a level mismatch alone moves a level-sensitive
classifier towards B, whose tones carry less energy across the bands). The property holds where A -> B is called
B more often than the untranslated tones and than the A -> A control.

Example::

    python scripts/umt_tone_check.py --steps 2000 --work build/umt-tones --json umt-tones.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

# The tests' tone domains and their classifier.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tone_domains import UMT_TEST_SIZE, as_model_hears, at_rate, domain_classifier, tone_stores  # noqa: E402

from patchflow.data.build import BuildOptions, build_store  # noqa: E402
from patchflow.data.features import log_mel  # noqa: E402
from patchflow.data.store import open_store  # noqa: E402
from patchflow.models.umt import UmtConfig  # noqa: E402
from patchflow.runtime.translation import load_translator  # noqa: E402
from patchflow.training.translation import UMT_PEAK, TranslationTrainConfig, train_translation  # noqa: E402

LEVELS_DB = (0.0, -12.0)


def tone_domain_stores(work: Path, dx7: Path) -> tuple[Path, Path]:
    """The two tone stores under ``work`` (built once, like a 40-voice Dexed store of ``dx7``)."""
    a, b = work / "tones" / "square.zarr", work / "tones" / "sine.zarr"
    if not (a.exists() and b.exists()):
        like = work / "like.zarr"
        if not like.exists():
            build_store("dexed", [dx7], like, BuildOptions(params="16", limit=40, seed=0, split="grouped"))
        return tone_stores(like, work / "tones")
    return a, b


def measure(run: Path, a: Path, b: Path, temperature: float, clips: int) -> dict[str, dict[str, float]]:
    """Share of clips each classifier calls B: ``{classifier: {"untranslated" | "a->b @ 0 dB" | ...: share}}``."""
    translator = load_translator(run, temperature=temperature)
    stores = [open_store(p) for p in (a, b)]
    rate = stores[0].render_settings.sample_rate
    audio_a, audio_b = (np.asarray(s.audio_array[:], dtype=np.float32) for s in stores)

    def mels(audio: np.ndarray) -> np.ndarray:
        return np.stack([log_mel(clip, translator.features).numpy() for clip in audio])

    model_rate = translator.model.config.sample_rate
    rated = (mels(at_rate(audio_a, rate, model_rate)), mels(at_rate(audio_b, rate, model_rate)))
    heard = (mels(as_model_hears(audio_a, rate, model_rate)), mels(as_model_hears(audio_b, rate, model_rate)))
    classifiers = {"rate": domain_classifier(*rated), "heard": domain_classifier(*heard),
                   "shape": domain_classifier(*heard, relative=True)}
    sources = audio_a[:clips]
    level = np.abs(sources).max(axis=1, keepdims=True) / UMT_PEAK  # translations come at UMT_PEAK
    translated = {t: translator.translate_wave(sources, t) * level for t in "ba"}
    rows: dict[str, dict[str, float]] = {}
    for name, p_b in classifiers.items():
        row = {"untranslated": float((p_b((rated if name == "rate" else heard)[0][:clips]) > 0.5).mean())}
        for db in LEVELS_DB:
            for target, wave in translated.items():
                row[f"a->{target} @ {db:+.0f} dB"] = float((p_b(mels(wave * 10 ** (db / 20))) > 0.5).mean())
        rows[name] = row
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(os.environ.get("PATCHFLOW_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--dx7", type=Path, default=shared / "data" / "dx7", help="DX7 cartridges (the like-store)")
    parser.add_argument("--work", type=Path, default=Path("build/umt-tones"), help="stores and runs")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--clips", type=int, default=16, help="square tones translated (of 16)")
    parser.add_argument("--json", type=Path, help="write the shares here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    a, b = tone_domain_stores(args.work, args.dx7)
    run = args.work / f"umt-{args.steps}-seed{args.seed}"
    start = time.perf_counter()
    train_translation(a, b, run, TranslationTrainConfig(steps=args.steps, batch_size=8, lr=args.lr, seed=args.seed,
                                                        checkpoint_every=args.steps, model=UmtConfig(**UMT_TEST_SIZE),
                                                        max_clips=16))
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    tail = metrics[-20:]
    result = {"steps": args.steps, "seed": args.seed, "temperature": args.temperature, "clips": args.clips,
              "train_seconds": round(time.perf_counter() - start, 1),
              "recon_a": float(np.mean([m["recon_a"] for m in tail])),
              "recon_b": float(np.mean([m["recon_b"] for m in tail])),
              "called_b": measure(run, a, b, args.temperature, args.clips)}
    columns = list(next(iter(result["called_b"].values())))
    print(f"{args.steps} iterations (seed {args.seed}): reconstruction {result['recon_a']:.2f} / "
          f"{result['recon_b']:.2f} nats a sample (A / B), translations sampled at temperature {args.temperature}")
    print("| classifier | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, row in result["called_b"].items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
