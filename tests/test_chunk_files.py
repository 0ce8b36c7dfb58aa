"""Chunk files written directly are the files zarr writes, and anything else goes through zarr."""

from __future__ import annotations

import os
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


def in_page_cache(path: Path) -> bool:
    """Whether the first page of ``path`` is cached (a read that must not wait for the disk succeeds)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.preadv(descriptor, [bytearray(4096)], 0, os.RWF_NOWAIT)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


def test_uncached_chunks_leave_the_page_cache_once_on_disk(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    writers = {}
    for keep_cached in (True, False):
        array = zarr.create_array(str(tmp_path / f"keep{keep_cached}"), shape=(6 * 64, 4096), chunks=(64, 4096),
                                  dtype="float32", compressors=None)
        writers[keep_cached] = ChunkFiles.for_array(array, keep_cached=keep_cached)
    chunks = [rng.standard_normal((64, 4096)).astype(np.float32) for _ in range(6)]
    for index, values in enumerate(chunks):
        for files in writers.values():
            files.write(index, values)
        os.sync()  # on disk: the pages of older files are clean, so they can be dropped
    written = {keep: sorted((tmp_path / f"keep{keep}" / "c").iterdir(), key=lambda p: int(p.name))
               for keep in writers}
    assert [in_page_cache(p / "0") for p in written[True]] == [True] * 6
    assert [in_page_cache(p / "0") for p in written[False]] == [False] * (6 - DROP_AFTER) + [True] * DROP_AFTER
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "keepFalse"))[:], np.concatenate(chunks))
