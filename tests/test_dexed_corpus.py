"""The whole shared DX7 corpus (~3,600 files): parsed with a summary, and decoded exactly as dexed-py decodes it."""

from __future__ import annotations

import warnings
from pathlib import Path

import dexed
import numpy as np
import pytest

from patchflow.cli.presets import read_all, summarise
from patchflow.plugins import iter_preset_files
from patchflow_dexed import DX7_PARAMETERS
from patchflow_dexed.parameters import VCED_ORDER

#: Every reason a corpus file may be skipped for (see data/README.md: performances, parameter changes, 4-operator
#: banks, macOS resource forks, the collection's text files).
KNOWN_REASONS = ("no DX7 voice dump found", "no preset parser recognises this file",
                 "do not look like DX7 voice data")


@pytest.fixture(scope="module")
def corpus(dx7_dir: Path):
    files = iter_preset_files([dx7_dir])
    results, failures = read_all(files)
    return files, results, failures, summarise(results, failures)


def test_corpus_summary(corpus) -> None:
    files, results, failures, summary = corpus
    assert len(files) > 3500
    assert summary["files_read"] + summary["files_unreadable"] == len(files)
    assert summary["files_read"] >= 3600 and summary["files_unreadable"] <= 20
    for failure in failures:
        assert any(reason in failure["reason"] for reason in KNOWN_REASONS), failure
    # data/README.md: ~27k distinct voices; about 10% of them hold a value outside the DX7 range
    assert 110_000 <= summary["presets"] <= 120_000
    assert 26_000 <= summary["distinct"] <= 30_000
    kinds = summary["problems_by_kind"]
    for kind in ("out-of-range", "bad-checksum", "variant-header", "headerless", "wrong-size"):
        assert kinds.get(kind, 0) > 0, f"the corpus is known to hold {kind} files"
    assert kinds["out-of-range"] == summary["flagged_presets"]
    flagged = {tuple(sorted(p.values.items())) for r in results for p in r.presets if p.flags}
    assert 0.05 <= len(flagged) / summary["distinct"] <= 0.15


def test_every_value_read_is_valid(corpus) -> None:
    _, results, _, _ = corpus
    names = [spec.name for spec in DX7_PARAMETERS]
    distinct = {tuple(p.values.values()) for r in results for p in r.presets if list(p.values) == names}
    assert len(distinct) > 26_000  # every preset of the reader lists its values in spec order
    values = np.array(sorted(distinct))
    low = np.array([spec.native_low for spec in DX7_PARAMETERS])
    high = np.array([spec.native_high for spec in DX7_PARAMETERS])
    assert values.shape[1] == 145
    assert np.all((values >= low) & (values <= high)) and np.all(values == np.round(values))


def test_no_readable_voice_is_lost(corpus) -> None:
    _, results, _, _ = corpus
    for result in results:
        data = Path(result.path).read_bytes()
        expected = (data.count(b"\xf0\x43\x00\x09") * 32 + data.count(b"\xf0\x43\x00\x00\x01\x1b")
                    if data[:1] == b"\xf0" else 0)
        if len(data) == 4104 and data[:2] == b"\xf0\x43":
            expected = 32
        if len(data) == 4096 and data[:1] != b"\xf0":
            expected = 32
        assert len(result.presets) >= min(expected, 32 * (len(data) // 4104) + (len(data) % 4104) // 163), \
            f"{result.path}: {len(result.presets)} voices read"
    by_name = {Path(r.path).name: r for r in results}
    assert len(by_name["PA-Decoder.syx"].presets) == 32 * 32  # 32 banks in one file
    assert len(by_name["CART1A.SYX"].presets) == 64
    assert len(by_name["PIANO.SYX"].presets) == 32  # dexed-py rejects it: its checksum byte is F7


def test_values_equal_dexed_load_bank(corpus) -> None:
    """Every distinct voice of the 4104-byte cartridges decodes to what dexed-py makes of it.

    Decoding is a function of a voice's 128 bytes alone, so each distinct packed voice is compared once.
    """
    _, results, _, _ = corpus
    seen: set[bytes] = set()
    for result in results:
        data = Path(result.path).read_bytes()
        if len(data) != 4104 or data[:4] != b"\xf0\x43\x00\x09":
            continue
        assert len(result.presets) == 32, result.path
        for i, preset in enumerate(result.presets):
            packed = data[6 + 128 * i: 6 + 128 * (i + 1)]
            if packed in seen:
                continue
            seen.add(packed)
            patch = dexed.Patch.from_packed(packed)
            ours = bytes(int(preset.values[n]) for n in VCED_ORDER)
            assert (ours, preset.extra["raw_name"]) == (patch.to_sysex()[:145], patch.name), \
                f"{preset.source} differs from dexed"
    assert len(seen) > 30_000
    # the file-level entry point itself, on a spread of cartridges
    by_path = {r.path: r for r in results}
    sample = [Path(r.path) for r in results if Path(r.path).stat().st_size == 4104][::150]
    for path in sample:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                patches = dexed.Patch.load_bank(str(path))
            except ValueError:  # dexed-py cannot frame it (e.g. a checksum byte of F7); we read it anyway
                continue
        ours = [bytes(int(p.values[n]) for n in VCED_ORDER) for p in by_path[str(path)].presets]
        assert [p.to_sysex()[:145] for p in patches] == ours
