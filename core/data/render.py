"""Rendering many presets in parallel: threads with one synth instance each.

Synth engines such as dexed-py release the GIL while rendering, so threads scale across cores without pickling
audio between processes. Every thread creates its own synth (:class:`patchflow.Synth` instances are not
thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..errors import PatchflowError
from ..plugins import get_synth
from ..presets import Preset
from ..synth import RenderSettings, Synth

#: Audio whose peak is below this is reported as silent.
SILENCE_PEAK = 1e-4

T = TypeVar("T")


@dataclass
class Rendered:
    """The audio of a batch of presets and, per preset, why it is unusable (empty string when it is fine)."""

    audio: np.ndarray
    errors: list[str]


def render_batch(synth: Synth, presets: Sequence[Preset], settings: RenderSettings) -> Rendered:
    """Render presets one after another; failures (errors, NaN, silence) become zero audio and a reason."""
    audio = np.zeros((len(presets), settings.num_samples), dtype=np.float32)
    errors: list[str] = []
    for i, preset in enumerate(presets):
        try:
            clip = np.asarray(synth.render_with(preset, settings), dtype=np.float32)
        except PatchflowError as exc:
            errors.append(f"render failed: {exc}")
            continue
        if clip.shape != (settings.num_samples,):
            errors.append(f"render returned shape {clip.shape}, expected ({settings.num_samples},)")
            continue
        if not np.all(np.isfinite(clip)):
            errors.append("render produced NaN or infinite samples")
            continue
        peak = float(np.max(np.abs(clip))) if clip.size else 0.0
        if peak < SILENCE_PEAK:
            errors.append(f"silent (peak {peak:.2e} < {SILENCE_PEAK:g})")
            continue
        audio[i] = clip
        errors.append("")
    return Rendered(audio, errors)


class SynthPool:
    """A thread pool whose threads each own a synth instance of one id."""

    def __init__(self, synth_id: str, workers: int) -> None:
        self.synth_id = synth_id
        self.workers = max(1, int(workers))
        self._local = threading.local()
        self._synths: list[Synth] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=f"render-{synth_id}")

    def synth(self) -> Synth:
        """The calling thread's synth instance (created on first use)."""
        synth = getattr(self._local, "synth", None)
        if synth is None:
            synth = self._local.synth = get_synth(self.synth_id)
            with self._lock:
                self._synths.append(synth)
        return synth

    def submit(self, func: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``func(synth, *args)`` on a pool thread with that thread's synth."""
        return self._executor.submit(lambda: func(self.synth(), *args))

    def map_batches(self, presets: Sequence[Preset], settings: RenderSettings, batch: int = 16) -> Iterator[Rendered]:
        """Render ``presets`` in batches, yielding results in input order."""
        futures = [self.submit(render_batch, presets[i:i + batch], settings) for i in range(0, len(presets), batch)]
        for future in futures:
            yield future.result()

    def close(self) -> None:
        """Stop the threads and release the synths."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        for synth in self._synths:
            synth.close()

    def __enter__(self) -> "SynthPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_all(synth_id: str, presets: Iterable[Preset], settings: RenderSettings, workers: int) -> Rendered:
    """Render every preset with ``workers`` threads; one :class:`Rendered` for all of them."""
    presets = list(presets)
    with SynthPool(synth_id, workers) as pool:
        parts = list(pool.map_batches(presets, settings))
    if not parts:
        return Rendered(np.zeros((0, settings.num_samples), np.float32), [])
    return Rendered(np.concatenate([p.audio for p in parts]), [e for p in parts for e in p.errors])
