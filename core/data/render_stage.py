"""The render stage of a build: chunks of rows rendered, turned into log-mels and written to the store.

Work is split the way the cores are best used:

* ``workers`` **render threads**, each with its own synth instance, render a chunk of
  :data:`~patchflow.data.store.CHUNK_ROWS` rows into a buffer and compute its log-mels (Dexed and torch release
  the GIL, so the threads run in parallel);
* **writer threads** (one per four render threads) compress and write finished chunks, so a render thread never
  waits for the disk: it takes a free buffer and goes on with the next chunk;
* the calling thread only waits, advances the progress bar as chunks land, and stops everything cleanly on an
  error or Ctrl-C (chunks already rendered are still written; the rest is left for the resume).

A chunk is marked done in ``chunk_done`` only after all of its arrays are written, so a build killed at any moment
resumes exactly where it stopped.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PatchflowError
from ..parameters import ParameterTable
from ..plugins import get_synth
from ..synth import RenderSettings, Synth
from .features import log_mel, log_mel_into
from .render import SynthPool, render_rows_into
from .store import CHUNK_ROWS, PresetStore, open_group

#: Render threads served by one writer thread (a writer compresses and stores a chunk in about a sixth of the time
#: a render thread takes to produce one).
RENDERERS_PER_WRITER = 4
#: Arrays a chunk writes, in order; ``chunk_done`` comes last.
CHUNK_ARRAYS = ("audio", "mel", "peak", "ok", "error", "chunk_done")


class RowValues:
    """Every parameter's native value for any rows of a store: the base preset with the learned columns set."""

    def __init__(self, store: PresetStore, table: ParameterTable) -> None:
        self.base = store.base_preset.vector(table)
        self.columns = np.asarray([table.index(name) for name in store.parameters.names], dtype=np.intp)
        self.learned = np.asarray(store.array("native")[:], dtype=np.float64).reshape(len(store), -1)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """``(stop - start, P)`` native values in the synth's table order."""
        full = np.repeat(self.base[None, :], stop - start, axis=0)
        full[:, self.columns] = self.learned[start:stop]
        return full


def chunk_bounds(chunk: int, n: int) -> tuple[int, int]:
    """First row and end of chunk ``chunk`` in a store of ``n`` rows."""
    return chunk * CHUNK_ROWS, min((chunk + 1) * CHUNK_ROWS, n)


@dataclass
class RenderedChunk:
    """One chunk's audio, log-mels, per-row failure reasons (``""`` for a usable row) and peaks, ready to write."""

    index: int
    audio: np.ndarray
    mel: np.ndarray
    errors: list[str]
    peaks: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.errors)


class ChunkArrays:
    """The store's per-row arrays, opened once for writing whole chunks through zarr.

    The arrays are opened with ``write_empty_chunks``: zarr otherwise compares every chunk with the fill value before
    writing it, which for a 22 MB audio chunk costs as much as compressing it.
    """

    def __init__(self, path: Path) -> None:
        group = open_group(path, "r+")
        self._arrays = {name: group[name].with_config({"write_empty_chunks": True}) for name in CHUNK_ARRAYS}

    def _put(self, name: str, index: int, values: np.ndarray) -> None:
        """Write ``values`` from the first row of chunk ``index`` of array ``name``."""
        array = self._arrays[name]
        start = index * array.chunks[0]
        array[start:start + len(values)] = values

    def write(self, chunk: RenderedChunk) -> None:
        """Write every array of ``chunk``, then mark it done (a chunk marked done is complete on disk)."""
        rows, index = chunk.rows, chunk.index
        self._put("audio", index, chunk.audio[:rows])
        self._put("mel", index, chunk.mel[:rows])
        self._put("peak", index, chunk.peaks)
        self._put("ok", index, np.asarray([not e for e in chunk.errors], dtype=bool))
        self._put("error", index, np.asarray(chunk.errors, dtype=object).astype(str))
        self._put("chunk_done", index, np.ones(1, dtype=bool))


@dataclass
class StageTiming:
    """CPU seconds the render threads spent rendering and computing features, and writer-thread busy time."""

    render_cpu_s: float = 0.0
    features_cpu_s: float = 0.0
    write_busy_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **seconds: float) -> None:
        with self._lock:
            for name, value in seconds.items():
                setattr(self, name, getattr(self, name) + value)

    def to_json(self) -> dict[str, float]:
        return {"render_cpu_s": round(self.render_cpu_s, 3), "features_cpu_s": round(self.features_cpu_s, 3),
                "write_busy_s": round(self.write_busy_s, 3)}


class _Buffers:
    """A fixed set of chunk buffers passed from render threads to writers and back (bounds the memory in use)."""

    def __init__(self, count: int, samples: int, mel_shape: tuple[int, int]) -> None:
        self._free: queue.SimpleQueue[tuple[np.ndarray, np.ndarray]] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put((np.empty((CHUNK_ROWS, samples), dtype=np.float32),
                            np.empty((CHUNK_ROWS, *mel_shape), dtype=np.float32)))

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        return self._free.get()

    def give_back(self, audio: np.ndarray, mel: np.ndarray) -> None:
        self._free.put((audio, mel))


_STOP = None


class _Writers:
    """Writer threads draining a queue of rendered chunks into the store.

    A writer that fails keeps draining (returning buffers, writing nothing) so render threads never block on a
    buffer; the first error is raised by :meth:`close`.
    """

    def __init__(self, arrays: ChunkArrays, buffers: _Buffers, count: int, timing: StageTiming) -> None:
        self._arrays, self._buffers, self._timing = arrays, buffers, timing
        self.pending: queue.SimpleQueue[RenderedChunk | None] = queue.SimpleQueue()
        self.written: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._threads = [threading.Thread(target=self._run, name=f"store-writer-{i}", daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while (chunk := self.pending.get()) is not _STOP:
            try:
                if self.error is None:
                    began = time.perf_counter()
                    self._arrays.write(chunk)
                    self._timing.add(write_busy_s=time.perf_counter() - began)
                    self.written.put(chunk.rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread by close()
                self.error = self.error or exc
            finally:
                self._buffers.give_back(chunk.audio, chunk.mel)

    def close(self) -> None:
        """Write what is queued, stop the threads, and raise the first write error."""
        for _ in self._threads:
            self.pending.put(_STOP)
        for thread in self._threads:
            thread.join()
        if self.error is not None:
            raise PatchflowError(f"writing the store failed: {self.error}") from self.error


def render_local(store: PresetStore, path: Path, table: ParameterTable, chunks: Sequence[int], workers: int,
                 advance: Callable[[int], None]) -> StageTiming:
    """Render, featurise and write ``chunks`` with ``workers`` render threads and their writers.

    ``advance(rows)`` is called from the calling thread each time a chunk is on disk.
    """
    settings, features, n = store.render_settings, store.features, len(store)
    values = RowValues(store, table)
    timing = StageTiming()
    writer_count = max(1, math.ceil(workers / RENDERERS_PER_WRITER))
    mel_shape = (features.n_mels, features.frames(settings.num_samples))
    buffers = _Buffers(workers + writer_count + 1, settings.num_samples, mel_shape)
    writers = _Writers(ChunkArrays(path), buffers, writer_count, timing)

    def job(synth: Synth, chunk: int) -> None:
        if writers.error is not None:
            return
        audio, mel = buffers.take()
        try:
            start, stop = chunk_bounds(chunk, n)
            began = time.thread_time()
            errors, peaks = render_rows_into(synth, values.rows(start, stop), settings, audio)
            rendered = time.thread_time()
            log_mel_into(audio[:stop - start], mel[:stop - start], features)
            timing.add(render_cpu_s=rendered - began, features_cpu_s=time.thread_time() - rendered)
        except BaseException:
            buffers.give_back(audio, mel)
            raise
        writers.pending.put(RenderedChunk(chunk, audio, mel, errors, peaks))

    pool = SynthPool(store.synth_id, workers)
    futures: list[Future[None]] = []
    try:
        futures = [pool.submit(job, c) for c in chunks]
        _wait(futures, writers, len(chunks), advance)
    finally:
        pool.close()  # cancels chunks not started; lets running ones finish and queue their chunk
        writers.close()
        while not writers.written.empty():  # chunks that landed while shutting down
            advance(writers.written.get())
    return timing


def _wait(futures: Sequence[Future[None]], writers: _Writers, count: int, advance: Callable[[int], None]) -> None:
    """Advance the progress bar as chunks land; raise the first render or write error."""
    landed = 0
    while landed < count:
        try:
            advance(writers.written.get(timeout=0.2))
            landed += 1
            continue
        except queue.Empty:
            pass
        if writers.error is not None:
            return  # raised by writers.close()
        failed = next((f for f in futures if f.done() and f.exception() is not None), None)
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------------- Ray
def _ray_render_chunk(synth_id: str, native: np.ndarray,
                      settings: dict) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Ray task: render one chunk's rows of native values on a worker."""
    synth = get_synth(synth_id)
    render = RenderSettings(**settings)
    try:
        audio = np.empty((len(native), render.num_samples), dtype=np.float32)
        errors, peaks = render_rows_into(synth, native, render, audio)
    finally:
        synth.close()
    return audio, errors, peaks


def render_ray(store: PresetStore, path: Path, table: ParameterTable, chunks: Sequence[int], workers: int,
               advance: Callable[[int], None]) -> StageTiming:
    """Render ``chunks`` as Ray tasks; features and writes happen here, as results come back."""
    try:
        import ray
    except ImportError:
        raise PatchflowError("--backend ray needs the optional dependency: pip install 'patchflow[ray]'") from None
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    timing = StageTiming()
    try:
        task = ray.remote(_ray_render_chunk)
        settings = vars(store.render_settings)
        values = RowValues(store, table)
        arrays = ChunkArrays(path)
        pending: dict[Any, int] = {}
        queue_ = list(chunks)
        in_flight = max(2, 2 * workers)
        n = len(store)
        while queue_ or pending:
            while queue_ and len(pending) < in_flight:
                chunk = queue_.pop(0)
                pending[task.remote(store.synth_id, values.rows(*chunk_bounds(chunk, n)), settings)] = chunk
            done, _ = ray.wait(list(pending), num_returns=1)
            chunk = pending.pop(done[0])
            audio, errors, peaks = ray.get(done[0])
            audio = np.array(audio)  # writable: Ray hands back read-only views of its object store
            began = time.perf_counter()
            arrays.write(RenderedChunk(chunk, audio, log_mel(audio, store.features).numpy(), list(errors), peaks))
            timing.add(write_busy_s=time.perf_counter() - began)
            advance(len(errors))
    finally:
        if started:
            ray.shutdown()
    return timing
