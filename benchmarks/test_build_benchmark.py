"""How close a full store build comes to the speed of the synth engine alone.

The headline is the ratio of the build's render-stage rate (render, log-mel features, compressed chunk writes,
with ``WORKERS`` render threads) to the rate of raw ``dexed-py`` rendering of the same presets with the same number
of threads (the physical limit of the step). Shared virtual machines drift by 10% or more from minute to minute,
so each round builds and then measures the raw rate right after, and the ratio reported is the median of the
rounds' ratios. Run with ``make benchmark``; numbers land in ``extra_info``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from patchflow.data.build import BuildOptions, build_store
from patchflow.data.store import open_store
from raw_dexed import raw_dexed_rate

WORKERS = 2
#: Enough chunks (32 of 64 rows) that the last chunk's tail, when one thread finishes before the other, stays small.
PRESETS = 2048
ROUNDS = 5
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "data" / "dx7" / "!Unsorted"
PARAMS = ["algorithm", "feedback", "op1_output_level", "op2_output_level", "op2_frequency_coarse",
          "op3_output_level", "op3_frequency_fine", "op4_env_rate1", "op5_env_level3", "op6_output_level",
          "lfo_speed", "lfo_pitch_mod_depth", "pitch_env_level1", "transpose", "op1_frequency_coarse",
          "op2_env_rate2"]


def raw_store_rate(store_path: Path, workers: int) -> float:
    """Presets/s of dexed-py alone over the store's presets."""
    store = open_store(store_path)
    return raw_dexed_rate([store.preset(i) for i in range(len(store))], store.render_settings, workers)


def test_build_rate_vs_raw_dexed(benchmark, tmp_path: Path) -> None:
    params = tmp_path / "params.txt"
    params.write_text("\n".join(PARAMS))
    # Each round builds a new store and flushes it to disk before the raw measurement, so that neither the raw
    # rendering nor the next round shares the cores with the kernel writing back an earlier round. Stores are
    # removed only at the end: no round pays for the file system recycling the files another round deleted.
    stores = [tmp_path / f"round{i}.zarr" for i in range(ROUNDS)]
    built: list[Path] = []
    rounds: list[dict[str, float]] = []

    def measure_finished_round() -> None:
        if built and not rounds[len(built) - 1:]:  # the round just built: its rate, then raw dexed-py, right away
            out = built[-1]
            os.sync()
            timing = open_store(out).meta["timing"]
            rounds.append({"build": timing["presets_per_s"], "raw": raw_store_rate(out, WORKERS),
                           **{k: v / PRESETS * 1e3 for k, v in timing["runs"][-1]["stages"].items()}})

    def build():
        out = stores[len(built)]
        built.append(out)
        return build_store("dexed", [CORPUS], out, BuildOptions(params=str(params), limit=PRESETS), workers=WORKERS)

    try:
        store = benchmark.pedantic(build, setup=measure_finished_round, rounds=ROUNDS, iterations=1)
        assert len(store) == PRESETS and store.counts["usable"] > 0.95 * PRESETS
        measure_finished_round()
    finally:
        for out in built:
            shutil.rmtree(out, ignore_errors=True)
    ratios = [r["build"] / r["raw"] for r in rounds]
    median = {key: float(np.median([r[key] for r in rounds])) for key in rounds[0]}
    benchmark.extra_info.update(
        presets=PRESETS, workers=WORKERS, rounds=len(rounds),
        build_render_stage_presets_per_s=round(median["build"], 1), raw_dexed_presets_per_s=round(median["raw"], 1),
        ratio=round(float(np.median(ratios)), 3), ratios=[round(r, 3) for r in ratios],
        render_cpu_ms_per_preset=round(median["render_cpu_s"], 2),
        features_cpu_ms_per_preset=round(median["features_cpu_s"], 2),
        writer_busy_ms_per_preset=round(median["write_busy_s"], 2))
    print(f"\nbuild render stage {median['build']:.0f} presets/s, raw dexed-py {median['raw']:.0f} presets/s, "
          f"ratio {np.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    assert all(0.0 < r < 1.5 for r in ratios)  # a build faster than its own engine would mean a broken measurement
