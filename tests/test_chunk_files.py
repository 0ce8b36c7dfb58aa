"""Chunk files written directly are the files zarr writes, and anything else goes through zarr."""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

from patchflow.data.chunk_files import DROP_AFTER, ChunkFiles
from patchflow.data.features import FeatureSettings
from patchflow.data.render_stage import CHUNK_ARRAYS, ChunkArrays, RenderedChunk
from patchflow.data.store import CHUNK_ROWS, create_layout, open_group
from patchflow.synth import RenderSettings

SETTINGS = RenderSettings(note_seconds=0.25, total_seconds=0.5)
FEATURES = FeatureSettings()
ROWS = 2 * CHUNK_ROWS + 9  # two whole chunks and a short last one


def chunk_files(root: Path) -> dict[str, bytes]:
    """Every chunk file under ``root`` (metadata excluded), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "zarr.json"}


def rendered_chunks(seed: int) -> list[RenderedChunk]:
    """Chunks shaped like a build's: audio on Dexed's 1/4096 grid, log-mels in dB, some failed rows."""
    rng = np.random.default_rng(seed)
    samples, frames = SETTINGS.num_samples, FEATURES.frames(SETTINGS.num_samples)
    chunks = []
    for index, start in enumerate(range(0, ROWS, CHUNK_ROWS)):
        rows = min(CHUNK_ROWS, ROWS - start)
        audio = np.zeros((CHUNK_ROWS, samples), np.float32)
        audio[:rows] = np.round(rng.standard_normal((rows, samples)) * 500) / 4096
        mel = np.zeros((CHUNK_ROWS, FEATURES.n_mels, frames), np.float32)
        mel[:rows] = rng.normal(-40, 20, (rows, FEATURES.n_mels, frames))
        errors = ["" if rng.random() < 0.8 else rng.choice(["silent (peak 3.00e-05 < 0.0001)",
                                                             "render failed: voix illisible (é, ü, 音)"])
                  for _ in range(rows)]
        peaks = np.where([not e for e in errors], np.abs(audio[:rows]).max(axis=1), 0).astype(np.float32)
        chunks.append(RenderedChunk(index, audio, mel, errors, peaks))
    return chunks


def write_store(path: Path, chunks: list[RenderedChunk], *, direct: bool) -> ChunkArrays:
    create_layout(path, {}, ROWS, 4, 2, SETTINGS, FEATURES)
    arrays = ChunkArrays(path, direct=direct)
    for chunk in chunks:
        arrays.write(chunk)
    return arrays


def test_chunks_written_directly_are_byte_for_byte_zarrs_own(tmp_path: Path) -> None:
    chunks = rendered_chunks(seed=3)
    direct = write_store(tmp_path / "direct.zarr", chunks, direct=True)
    through_zarr = write_store(tmp_path / "zarr.zarr", chunks, direct=False)
    assert direct.direct == list(CHUNK_ARRAYS) and through_zarr.direct == []
    ours, theirs = chunk_files(tmp_path / "direct.zarr"), chunk_files(tmp_path / "zarr.zarr")
    assert sorted(ours) == sorted(theirs)
    assert [name for name in theirs if ours[name] != theirs[name]] == []
    # every array has its whole chunks and its short last chunk on disk
    assert {"audio/c/0/0", "audio/c/2/0", "mel/c/1/0/0", "error/c/2", "chunk_done/c/2"} <= set(ours)
    group = open_group(tmp_path / "direct.zarr")
    audio = np.concatenate([c.audio[:c.rows] for c in chunks])
    np.testing.assert_array_equal(group["audio"][:], audio)
    np.testing.assert_array_equal(group["mel"][:], np.concatenate([c.mel[:c.rows] for c in chunks]))
    assert list(group["error"][:]) == [e for c in chunks for e in c.errors]
    np.testing.assert_array_equal(group["ok"][:], [not e for c in chunks for e in c.errors])
    np.testing.assert_array_equal(group["peak"][:], np.concatenate([c.peaks for c in chunks]))
    assert group["chunk_done"][:].all()


def test_a_rewritten_chunk_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    first, second = rendered_chunks(seed=1), rendered_chunks(seed=2)
    arrays = write_store(tmp_path / "s.zarr", first, direct=True)
    arrays.write(second[0])
    group = open_group(tmp_path / "s.zarr")
    np.testing.assert_array_equal(group["audio"][:CHUNK_ROWS], second[0].audio)
    np.testing.assert_array_equal(group["audio"][CHUNK_ROWS:2 * CHUNK_ROWS], first[1].audio)
    assert not list((tmp_path / "s.zarr").rglob("*.partial"))


@pytest.mark.parametrize(("dtype", "codecs"), [
    ("float64", {"compressors": [ZstdCodec(level=3, checksum=True)], "serializer": zarr.codecs.BytesCodec(endian="big")}),
    ("int16", {"compressors": [BloscCodec(cname="zstd", clevel=2, shuffle="noshuffle")]}),
    ("uint8", {"compressors": [BloscCodec(cname="lz4hc", clevel=5, shuffle="bitshuffle", blocksize=256)]}),
    ("int64", {"compressors": None}),
    ("bool", {}),
    (str, {}),
])
def test_other_dtypes_and_codecs_match_zarr(tmp_path: Path, dtype: object, codecs: dict) -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(-3, 100, (16, 5))
    values = values.astype(str) if dtype is str else values.astype(dtype)
    stored = []
    for name in ("direct", "zarr"):
        array = zarr.create_array(str(tmp_path / name), shape=(40, 5), chunks=(16, 5), dtype=dtype, **codecs)
        files = ChunkFiles.for_array(array)
        assert files is not None
        if name == "direct":
            files.write(1, values)
        else:
            array[16:32] = values
        stored.append(chunk_files(tmp_path / name))
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / name))[16:32], values)
    assert list(stored[0]) == ["c/1/0"] and stored[0] == stored[1]


def test_layouts_and_codecs_it_does_not_know_are_left_to_zarr(tmp_path: Path) -> None:
    def array(name: str, **options: object) -> zarr.Array:
        return zarr.create_array(str(tmp_path / name), shape=(64, 8), chunks=(16, 8), dtype="float32", **options)

    assert ChunkFiles.for_array(array("gzip", compressors=[GzipCodec()])) is None
    assert ChunkFiles.for_array(array("sharded", shards=(32, 8))) is None
    assert ChunkFiles.for_array(array("v2", zarr_format=2)) is None
    assert ChunkFiles.for_array(zarr.create_array(str(tmp_path / "split"), shape=(64, 8), chunks=(16, 4),
                                                  dtype="float32")) is None
    assert ChunkFiles.for_array(zarr.create_array(zarr.storage.MemoryStore(), shape=(64, 8), chunks=(16, 8),
                                                  dtype="float32")) is None


def test_only_whole_chunks_are_written_directly(tmp_path: Path) -> None:
    files = ChunkFiles.for_array(zarr.create_array(str(tmp_path / "a"), shape=(40, 3), chunks=(16, 3),
                                                   dtype="float32"))
    assert files is not None and files.fits(np.zeros((16, 3))) and not files.fits(np.zeros((8, 3)))
    with pytest.raises(ValueError, match="a chunk has shape"):
        files.write(2, np.zeros((8, 3), np.float32))


#: The page-cache tests need Linux: posix_fadvise, mincore and /proc/self/fd.
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="page-cache advice is asked of the Linux kernel")
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def cached_share(path: Path) -> float:
    """The share of ``path``'s pages in the page cache, asked of the kernel with mincore(2) (what fincore prints).

    Mapping the file without touching it reads nothing. A read that must not wait (``RWF_NOWAIT``) is no probe: it
    starts readahead, and on a fast virtual disk it sometimes succeeds on a page that was not cached.
    """
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = _LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed", str(path))
        try:
            residency = ctypes.create_string_buffer(pages)
            if _LIBC.mincore(address, size, residency) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed", str(path))
            return sum(byte & 1 for byte in residency.raw) / pages
        finally:
            _LIBC.munmap(address, size)
    finally:
        os.close(descriptor)


def drops_pages(directory: Path) -> bool:
    """Whether files in ``directory`` leave the page cache when asked (on tmpfs, for one, the cache is the file)."""
    probe = directory / "probe"
    probe.write_bytes(bytes(1 << 16))
    os.sync()  # the steps the writer and the test below take: on disk, then dropped through a new descriptor
    descriptor = os.open(probe, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    try:
        return cached_share(probe) == 0
    finally:
        probe.unlink()


@pytest.fixture
def disk_directory(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory whose filesystem can drop pages: pytest's own if it can, else one on disk.

    pytest's temporary directory may sit on tmpfs, where no page ever leaves the cache; /var/tmp and the checkout
    itself are on disk on the machines this project runs on.
    """
    for base in (tmp_path, Path("/var/tmp"), Path(__file__).resolve().parents[1]):
        try:
            directory = Path(tempfile.mkdtemp(prefix=".page-cache-test-", dir=base))
        except OSError:
            continue
        if drops_pages(directory):
            yield directory
            shutil.rmtree(directory)
            return
        shutil.rmtree(directory)
    pytest.skip("no filesystem here drops written-back pages from the cache (tmpfs everywhere?)")


def write_six_chunks(directory: Path) -> tuple[dict[bool, list[Path]], list[np.ndarray]]:
    """Six chunks written once kept in the cache and once not, synced after each; the chunk files, oldest first."""
    rng = np.random.default_rng(0)
    writers = {}
    for keep_cached in (True, False):
        array = zarr.create_array(str(directory / f"keep{keep_cached}"), shape=(6 * 64, 4096), chunks=(64, 4096),
                                  dtype="float32", compressors=None)
        writers[keep_cached] = ChunkFiles.for_array(array, keep_cached=keep_cached)
    chunks = [rng.standard_normal((64, 4096)).astype(np.float32) for _ in range(6)]
    for index, values in enumerate(chunks):
        for files in writers.values():
            files.write(index, values)
        os.sync()  # on disk: the pages of older files are clean, so they can be dropped
    written = {keep: [directory / f"keep{keep}" / "c" / str(index) / "0" for index in range(6)] for keep in writers}
    return written, chunks


@linux_only
def test_uncached_chunks_leave_the_page_cache_once_on_disk(disk_directory: Path) -> None:
    written, chunks = write_six_chunks(disk_directory)
    assert [cached_share(path) for path in written[True]] == [1.0] * 6
    assert [cached_share(path) for path in written[False]] == [0.0] * (6 - DROP_AFTER) + [1.0] * DROP_AFTER
    np.testing.assert_array_equal(zarr.open_array(str(disk_directory / "keepFalse"))[:], np.concatenate(chunks))


@linux_only
def test_uncached_chunks_are_flushed_when_written_and_dropped_later(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The calls behind the test above, checked on any filesystem (tmpfs included) by recording them."""
    advised: list[tuple[str, int]] = []
    real_fadvise = os.posix_fadvise

    def record(descriptor: int, offset: int, length: int, advice: int) -> None:
        advised.append((os.readlink(f"/proc/self/fd/{descriptor}"), advice))
        real_fadvise(descriptor, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    written, chunks = write_six_chunks(tmp_path)
    assert {advice for _, advice in advised} == {os.POSIX_FADV_DONTNEED}
    # each uncached file once as it is written (under its temporary name), then once more DROP_AFTER files later
    expected: list[str] = []
    for index, path in enumerate(written[False]):
        expected.append(f"{path}.partial")
        if index >= DROP_AFTER:
            expected.append(str(written[False][index - DROP_AFTER]))
    assert [re.sub(r"\.[0-9a-f]{32}\.partial$", ".partial", path) for path, _ in advised] == expected
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "keepFalse"))[:], np.concatenate(chunks))
