"""How fast `patchflow match` is: the whole command from a fresh process (cold) and again in a process that has run
it once (warm), and the rate at which its search renders and scores candidates beside raw ``dexed-py`` rendering on
the same cores.

The matcher is the installed pretrained Dexed bundle when there is one (`make pretrained`), else a small bundle made
here (a store of 128 corpus voices, a ``flow_post`` run of the ``small`` preset trained for a few batches, its
index); ``extra_info["bundle"]`` says which. The sound is a 4 s test voice of that store; the search has the default
budget (2 s). Cold is the median of ``ROUNDS`` fresh ``patchflow match`` processes, ``syx_s`` the time from the
process's start to the written ``match.syx``. Warm runs the same command through the CLI in this process after one
run.

The search rate is candidates per second through :class:`patchflow.runtime.search.AudioObjective` (render from
native values on ``WORKERS`` threads, magnitude mels, level-matched SC), each candidate new; the raw rate is
``dexed-py`` loading and rendering the same kind of patches on ``WORKERS`` threads and nothing else. Rounds alternate
the two, since shared machines drift, and the ratio is the median of the rounds' ratios.
``PATCHFLOW_BENCH_MATCH_CANDIDATES`` sets the candidates per round (256). Run with ``make benchmark``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from raw_dexed import raw_dexed_rate

WORKERS = 2
ROUNDS = 5
CANDIDATES = int(os.environ.get("PATCHFLOW_BENCH_MATCH_CANDIDATES", "256"))
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "data" / "dx7" / "!Unsorted"
PATCHFLOW = Path(sys.executable).with_name("patchflow")


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The bundle, a store with its voices, and a 4 s sound to match."""
    from patchflow.audio import write_wav
    from patchflow.data.build import BuildOptions, build_store
    from patchflow.registries import matchers
    from patchflow.training import make_config, train

    tmp = tmp_path_factory.mktemp("match-bench")
    store = build_store("dexed", [CORPUS], tmp / "voices.zarr", BuildOptions(params="16", limit=128, seed=0),
                        workers=WORKERS)
    installed = matchers().get("dexed")
    if installed is not None and installed.installed:
        bundle, kind = installed.path, "installed pretrained bundle"
    else:
        run = train(make_config(store.path, tmp / "run", "flow_post", preset="small", overrides={
            "epochs": 1, "max_batches_per_epoch": 2, "max_valid_batches": 1, "progress": False,
            "model.classify_steps": 64, "model.recon_weight": 0.01}))
        done = subprocess.run([str(PATCHFLOW), "index", "build", str(run), "--no-progress"], capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        bundle, kind = run, f"small bundle made here ({len(store)} voices)"
    sound = tmp / "sound.wav"
    audio = store.audio(int(store.split_indices("test")[0]))
    write_wav(sound, audio / np.abs(audio).max() * 0.8, store.render_settings.sample_rate)
    return {"bundle": bundle, "kind": kind, "store": store, "sound": sound, "tmp": tmp}


def test_match_command_cold(benchmark, matcher: dict) -> None:
    outs: list[Path] = []
    times: list[dict[str, float]] = []

    def run_once() -> None:
        out = matcher["tmp"] / f"cold-{len(outs)}"
        outs.append(out)
        started = time.time()
        done = subprocess.run([str(PATCHFLOW), "match", str(matcher["sound"]), "--run", str(matcher["bundle"]),
                               "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=600)
        ended = time.time()
        assert done.returncode == 0, done.stderr[-3000:]
        times.append({"total": ended - started, "syx": (out / "match.syx").stat().st_mtime - started,
                      "search": json.loads((out / "match.json").read_text())["seconds"]})

    benchmark.pedantic(run_once, rounds=ROUNDS, iterations=1)
    median = {k: float(np.median([t[k] for t in times])) for k in times[0]}
    benchmark.extra_info.update(bundle=matcher["kind"], rounds=len(times), total_s=round(median["total"], 2),
                                syx_s=round(median["syx"], 2), match_sound_s=round(median["search"], 2),
                                budget_s=2.0)
    print(f"\ncold patchflow match: {median['total']:.2f} s in all, match.syx after {median['syx']:.2f} s "
          f"(match_sound {median['search']:.2f} s) with the {matcher['kind']}")
    for out in outs:
        shutil.rmtree(out, ignore_errors=True)


def test_match_command_warm(benchmark, matcher: dict) -> None:
    from typer.testing import CliRunner

    from patchflow.cli import app

    runner = CliRunner()
    args = ["match", str(matcher["sound"]), "--run", str(matcher["bundle"]), "--no-progress"]
    first = runner.invoke(app, [*args, "--out", str(matcher["tmp"] / "warm-first")])
    assert first.exit_code == 0, first.output
    count = iter(range(1000))

    def run_once() -> None:
        result = runner.invoke(app, [*args, "--out", str(matcher["tmp"] / f"warm-{next(count)}")])
        assert result.exit_code == 0, result.output

    benchmark.pedantic(run_once, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(bundle=matcher["kind"], budget_s=2.0)


def test_search_rate_vs_raw_dexed(benchmark, matcher: dict) -> None:
    from patchflow.data.features import prepare
    from patchflow.data.render import SynthPool
    from patchflow.runtime.search import AudioObjective

    store = matcher["store"]
    table = store.parameters
    rng = np.random.default_rng(0)
    target = store.audio(int(store.split_indices("test")[0]))
    prepare(store.features)
    rounds: list[dict[str, float]] = []
    with SynthPool("dexed", WORKERS) as pool:
        AudioObjective(target, pool, store.render_settings, store.base_preset, table, store.features,
                       match_level=True)(rng.random((WORKERS, len(table))))  # engines made before the clock

        def measure_raw() -> None:
            if len(rounds) < len(scored):
                native = table.to_native(rng.random((CANDIDATES, len(table))))
                raw = raw_dexed_rate([store.base_preset.with_values(table, row) for row in native],
                                     store.render_settings, WORKERS)
                rounds.append({"raw": raw, "search": scored[-1]})

        scored: list[float] = []

        def score() -> None:
            objective = AudioObjective(target, pool, store.render_settings, store.base_preset, table,
                                       store.features, match_level=True)
            params = rng.random((CANDIDATES, len(table)))
            started = time.perf_counter()
            objective(params)
            scored.append(objective.renders / (time.perf_counter() - started))

        benchmark.pedantic(score, setup=measure_raw, rounds=ROUNDS, iterations=1)
        measure_raw()
    ratios = [r["search"] / r["raw"] for r in rounds]
    benchmark.extra_info.update(
        candidates=CANDIDATES, workers=WORKERS, rounds=len(rounds),
        search_candidates_per_s=round(float(np.median([r["search"] for r in rounds])), 1),
        raw_dexed_per_s=round(float(np.median([r["raw"] for r in rounds])), 1),
        samples_per_s=float(np.median([r["search"] for r in rounds])),
        ratio=round(float(np.median(ratios)), 3), ratios=[round(r, 3) for r in ratios])
    print(f"\nsearch {np.median([r['search'] for r in rounds]):.0f} candidates/s, raw dexed-py "
          f"{np.median([r['raw'] for r in rounds]):.0f} renders/s, ratio {np.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    assert all(0.0 < r < 1.5 for r in ratios)
