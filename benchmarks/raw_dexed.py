"""The yardstick of the render benchmarks: dexed-py alone, with no patchflow around it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from patchflow import Preset, RenderSettings


def raw_dexed_rate(presets: Sequence[Preset], settings: RenderSettings, workers: int) -> float:
    """Presets/s of dexed-py alone (load + render; no features, no writes) over ``presets``, ``workers`` threads
    each with its own engine."""
    import dexed
    from patchflow_dexed.sysex import preset_to_vced

    patches = [dexed.Patch.from_sysex(preset_to_vced(preset) + b"\x3f") for preset in presets]
    shards = [patches[w::workers] for w in range(workers)]

    def run(shard: list) -> None:
        engine = dexed.DexedSynth(sample_rate=float(settings.sample_rate))
        for patch in shard:
            engine.load_patch(patch)
            engine.render(midi_note=settings.note, velocity=settings.velocity, note_duration=settings.note_seconds,
                          render_duration=settings.total_seconds)

    threads = [threading.Thread(target=run, args=(shard,)) for shard in shards]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(patches) / (time.perf_counter() - started)
