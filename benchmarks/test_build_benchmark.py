"""How close a full store build comes to the speed of the synth engine alone.

The headline is the ratio of the build's render-stage rate (render, log-mel features, compressed chunk writes,
with ``WORKERS`` threads) to the rate of raw ``dexed-py`` rendering of the same presets with the same number of
threads (the physical limit of the step). Run with ``make benchmark``; numbers land in ``extra_info``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from patchflow.data.build import build_store
from patchflow.data.store import open_store

WORKERS = 2
PRESETS = 512
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "data" / "dx7" / "!Unsorted"
PARAMS = ["algorithm", "feedback", "op1_output_level", "op2_output_level", "op2_frequency_coarse",
          "op3_output_level", "op3_frequency_fine", "op4_env_rate1", "op5_env_level3", "op6_output_level",
          "lfo_speed", "lfo_pitch_mod_depth", "pitch_env_level1", "transpose", "op1_frequency_coarse",
          "op2_env_rate2"]


def raw_dexed_rate(store_path: Path, workers: int) -> float:
    """Presets/s of dexed-py alone (load + render, no features, no writes) over the store's presets."""
    import dexed
    from patchflow_dexed.sysex import preset_to_vced

    store = open_store(store_path)
    patches = [dexed.Patch.from_sysex(preset_to_vced(store.preset(i)) + b"\x3f") for i in range(len(store))]
    s = store.render_settings
    shards = [patches[w::workers] for w in range(workers)]

    def run(shard: list) -> None:
        engine = dexed.DexedSynth(sample_rate=float(s.sample_rate))
        for patch in shard:
            engine.load_patch(patch)
            engine.render(midi_note=s.note, velocity=s.velocity, note_duration=s.note_seconds,
                          render_duration=s.total_seconds)

    threads = [threading.Thread(target=run, args=(shard,)) for shard in shards]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(patches) / (time.perf_counter() - started)


def test_build_rate_vs_raw_dexed(benchmark, tmp_path: Path) -> None:
    params = tmp_path / "params.txt"
    params.write_text("\n".join(PARAMS))
    out = tmp_path / "bench.zarr"

    def setup():
        shutil.rmtree(out, ignore_errors=True)

    def build():
        return build_store("dexed", [CORPUS], out, params=str(params), limit=PRESETS, workers=WORKERS,
                           progress=False)

    store = benchmark.pedantic(build, setup=setup, rounds=2, iterations=1)
    build_rate = store.meta["timing"]["presets_per_s"]
    raw_rate = float(np.median([raw_dexed_rate(out, WORKERS) for _ in range(2)]))
    benchmark.extra_info.update(presets=len(store), workers=WORKERS, build_render_stage_presets_per_s=build_rate,
                                raw_dexed_presets_per_s=round(raw_rate, 1), ratio=round(build_rate / raw_rate, 3),
                                whole_build_s=store.meta["timing"]["total_s"])
    print(f"\nbuild render stage {build_rate:.0f} presets/s, raw dexed-py {raw_rate:.0f} presets/s, "
          f"ratio {build_rate / raw_rate:.2f}")
    assert len(store) == PRESETS
