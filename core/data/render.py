"""Rendering many presets in parallel: threads with one synth instance each.

Synth engines such as dexed-py release the GIL while rendering, so threads scale across cores without pickling
audio between processes. Every thread creates its own synth (:class:`patchflow.Synth` instances are not
thread-safe).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

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


def accept_clip(result: np.ndarray | PatchflowError, row: np.ndarray) -> tuple[str, float]:
    """Copy a rendered clip into ``row`` of a batch buffer if it is usable; otherwise zero the row and say why.

    Args:
        result: What the synth returned for one preset, or the error it raised.
        row: The clip's row in the batch buffer (length: samples per clip).

    Returns:
        ``("", peak)`` for a usable clip (``peak``: largest absolute sample), else ``(reason, 0.0)``: the render
        error, a wrong shape, NaN or infinite samples, or silence (peak below :data:`SILENCE_PEAK`).
    """
    if isinstance(result, PatchflowError):
        row[:] = 0.0
        return f"render failed: {result}", 0.0
    clip = np.ascontiguousarray(result, dtype=np.float32)
    if clip.shape != row.shape:
        row[:] = 0.0
        return f"render returned shape {clip.shape}, expected {row.shape}", 0.0
    if not clip.size:
        return "render returned no samples", 0.0
    # min and max propagate NaN and infinities, so one pass checks finiteness and gives the peak (torch's, as it
    # lets the other render threads run meanwhile; numpy's reductions hold the GIL)
    low, high = (float(v) for v in torch.aminmax(torch.from_numpy(clip)))
    if not (np.isfinite(high) and np.isfinite(low)):
        row[:] = 0.0
        return "render produced NaN or infinite samples", 0.0
    peak = max(high, -low)
    if peak < SILENCE_PEAK:
        row[:] = 0.0
        return f"silent (peak {peak:.2e} < {SILENCE_PEAK:g})", 0.0
    torch.from_numpy(row).copy_(torch.from_numpy(clip))
    return "", peak


def render_batch(synth: Synth, presets: Sequence[Preset], settings: RenderSettings) -> Rendered:
    """Render presets one after another; failures (errors, NaN, silence) become zero audio and a reason."""
    audio = np.zeros((len(presets), settings.num_samples), dtype=np.float32)
    errors: list[str] = []
    for i, preset in enumerate(presets):
        try:
            result: np.ndarray | PatchflowError = synth.render(preset, settings)
        except PatchflowError as exc:
            result = exc
        errors.append(accept_clip(result, audio[i])[0])
    return Rendered(audio, errors)


def render_rows_into(synth: Synth, native: np.ndarray, settings: RenderSettings,
                     out: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Render rows of native values (every parameter, table order) into ``out[:len(native)]``.

    The dataset builder's path, through :meth:`patchflow.Synth.render_vectors`: no preset objects, and one buffer
    reused chunk after chunk. Unusable rows are zeroed.

    Returns:
        Per row, why it is unusable (``""`` when it is fine), and its peak absolute sample (0 when unusable).
    """
    if out.shape[0] < len(native) or out.shape[1:] != (settings.num_samples,):
        raise ValueError(f"buffer of shape {out.shape} cannot hold {len(native)} clips of {settings.num_samples}")
    accepted = [accept_clip(result, out[i]) for i, result in enumerate(synth.render_vectors(native, settings))]
    if len(accepted) != len(native):
        raise PatchflowError(f"{synth.id} rendered {len(accepted)} of {len(native)} rows")
    return [reason for reason, _ in accepted], np.asarray([peak for _, peak in accepted], dtype=np.float32)


def default_workers() -> int:
    """Render threads used by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SynthPool:
    """A thread pool whose threads each own a synth instance: the one way patchflow renders in parallel.

    Args:
        synth: A synth id, or a callable creating a fresh synth (e.g. an adapter instance with options).
        workers: Number of threads (default: :func:`default_workers`).

    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(self, synth: str | Callable[[], Synth], workers: int | None = None) -> None:
        self.synth_id = synth if isinstance(synth, str) else getattr(synth, "__name__", "synth")
        self._factory: Callable[[], Synth] = (lambda: get_synth(synth)) if isinstance(synth, str) else synth
        self.workers = max(1, int(workers or default_workers()))
        self._local = threading.local()
        self._synths: list[Synth] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=f"render-{self.synth_id}")

    def synth(self) -> Synth:
        """The calling thread's synth instance (created on first use)."""
        synth = getattr(self._local, "synth", None)
        if synth is None:
            synth = self._local.synth = self._factory()
            with self._lock:
                self._synths.append(synth)
        return synth

    def submit(self, func: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``func(synth, *args)`` on a pool thread with that thread's synth."""
        return self._executor.submit(lambda: func(self.synth(), *args))

    def render(self, presets: Sequence[Preset], settings: RenderSettings,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Audio ``(N, samples)`` float32 of every preset, in order (trimmed or zero-padded to the settings' length).

        Args:
            presets: The presets to play.
            settings: How each note is played.
            progress: Called with the number of renders finished since the last call (for progress bars).

        Raises:
            RenderError: A preset could not be rendered (unlike :meth:`map_batches`, which records failures).
        """
        out = np.zeros((len(presets), settings.num_samples), dtype=np.float32)
        if not presets:
            return out
        chunk = max(1, min(32, len(presets) // (4 * self.workers) or 1))

        def work(synth: Synth, start: int) -> int:
            stop = min(start + chunk, len(presets))
            for i in range(start, stop):
                audio = synth.render(presets[i], settings)
                n = min(audio.shape[-1], out.shape[1])
                out[i, :n] = audio[:n]
            return stop - start

        for future in [self.submit(work, start) for start in range(0, len(presets), chunk)]:
            done = future.result()
            if progress is not None:
                progress(done)
        return out

    def map_batches(self, presets: Sequence[Preset], settings: RenderSettings, batch: int = 16) -> Iterator[Rendered]:
        """Render ``presets`` in batches, yielding results in input order."""
        futures = [self.submit(render_batch, presets[i:i + batch], settings) for i in range(0, len(presets), batch)]
        for future in futures:
            yield future.result()

    def close(self) -> None:
        """Stop the threads and release the synths."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for synth in self._synths:
                synth.close()
            self._synths.clear()

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
