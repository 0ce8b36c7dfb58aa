"""Rendering many presets fast: a thread pool with one synth instance per thread.

Engines such as Dexed release the GIL while rendering, so threads scale without pickling audio between
processes. A synth instance is never shared between threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..parameters import ParameterTable
from ..presets import Preset
from ..synth import RenderSettings, Synth


def presets_from_normalised(base: Preset, table: ParameterTable, params: np.ndarray,
                            names: Sequence[str] | None = None) -> list[Preset]:
    """Presets that take ``base``'s values and the learned parameters ``params`` ``(N, P)`` in ``[0, 1]``.

    Values are mapped to native units through the specs (grid-snapped, clamped, classes rounded). The new presets
    carry the given names (the base's raw name bytes, kept by some formats for round trips, are dropped).
    """
    native = table.to_native(np.atleast_2d(params))
    names = names or [f"{base.name or 'preset'} {i + 1}" for i in range(len(native))]
    extra = {k: v for k, v in base.extra.items() if k != "raw_name"}
    return [base.with_values(table, row, name=name, source=None, flags=[], extra=extra)
            for row, name in zip(native, names)]


def default_workers() -> int:
    """Threads used by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class ParallelRenderer:
    """Render presets on a pool of threads, each holding its own synth.

    Args:
        synth_factory: Creates a fresh synth (e.g. ``lambda: patchflow.get_synth("dexed")``).
        settings: Note, velocity and lengths used for every render (use the dataset's, so re-rendered audio is
            comparable with the targets).
        workers: Number of threads (default: the usable CPUs).

    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(self, synth_factory: Callable[[], Synth], settings: RenderSettings,
                 workers: int | None = None) -> None:
        self.settings = settings
        self.workers = workers or default_workers()
        self._factory = synth_factory
        self._local = threading.local()
        self._synths: list[Synth] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="patchflow-render")

    def _synth(self) -> Synth:
        synth = getattr(self._local, "synth", None)
        if synth is None:
            synth = self._local.synth = self._factory()
            with self._lock:
                self._synths.append(synth)
        return synth

    def _render_one(self, preset: Preset) -> np.ndarray:
        return self._synth().render(preset, self.settings)

    def render(self, presets: Sequence[Preset], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Audio ``(N, samples)`` float32 of every preset, in order.

        Args:
            presets: The presets to play.
            progress: Called with the number of renders finished since the last call (for progress bars).

        Raises:
            RenderError: A preset could not be rendered.
        """
        out = np.zeros((len(presets), self.settings.num_samples), dtype=np.float32)
        if not presets:
            return out
        chunk = max(1, min(32, len(presets) // (4 * self.workers) or 1))
        starts = list(range(0, len(presets), chunk))

        def work(start: int) -> int:
            for i in range(start, min(start + chunk, len(presets))):
                audio = self._render_one(presets[i])
                n = min(audio.shape[-1], out.shape[1])
                out[i, :n] = audio[:n]
            return min(start + chunk, len(presets)) - start

        for done in self._pool.map(work, starts):
            if progress is not None:
                progress(done)
        return out

    def close(self) -> None:
        """Stop the threads and release the synths."""
        self._pool.shutdown(wait=True)
        with self._lock:
            for synth in self._synths:
                synth.close()
            self._synths.clear()

    def __enter__(self) -> "ParallelRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
