"""The small real Dexed store: layout, splits without leakage, training-only statistics, presets, loader."""

from __future__ import annotations

from pathlib import Path, PurePath

import numpy as np
import pytest
import torch

from patchflow import get_synth
from patchflow.data.loader import make_loader
from patchflow.data.selection import AUDIBLE_DB
from patchflow.data.store import StoreError, open_store


def test_layout_and_contents(small_dexed_store) -> None:
    store = small_dexed_store
    n = len(store)
    assert n == 300 and store.status == "complete" and store.synth_id == "dexed"
    assert len(store.parameters) == 16
    assert store.mel.shape == (n, 128, 87)
    assert store.audio_array.shape == (n, 88200)
    params = np.asarray(store.array("params")[:])
    assert params.shape == (n, 16) and params.min() >= 0 and params.max() <= 1
    classes = np.asarray(store.array("classes")[:])
    for j, spec in enumerate(store.parameters):
        if spec.is_continuous:
            assert np.all(classes[:, j] == -1)
        else:
            assert classes[:, j].min() >= 0 and classes[:, j].max() < spec.cardinality
            np.testing.assert_allclose(params[:, j], classes[:, j] / (spec.cardinality - 1), atol=1e-6)
    native = np.asarray(store.array("native")[:])
    assert len({row.tobytes() for row in native}) == n  # duplicates on the learned parameters were removed
    assert all("#" in s for s in store.sources) and len(store.names) == n
    item = store[5]
    assert item.mel.shape == (128, 87) and item.index == 5 and item.params.dtype == np.float32
    assert store.counts["kept"] == n and store.counts["duplicates"] > 0


def test_chosen_parameters_are_audible_over_the_base(small_dexed_store) -> None:
    report = small_dexed_store.meta["selection"]
    chosen = [s for s in report["scores"] if s["chosen"]]
    assert [s["name"] for s in chosen] == sorted(small_dexed_store.parameters.names,
                                                  key=[s["name"] for s in report["scores"]].index)
    assert all(s["effect_db"] >= AUDIBLE_DB for s in chosen)
    assert report["inaudible"]  # the measure does reject parameters
    assert not set(report["inaudible"]) & set(small_dexed_store.parameters.names)


def test_grouped_split_keeps_banks_on_one_side(small_dexed_store) -> None:
    store = small_dexed_store
    sizes = {s: len(store.split_indices(s)) for s in ("train", "valid", "test")}
    assert sum(sizes.values()) == len(store)
    assert 0.7 < sizes["train"] / len(store) < 0.9 and sizes["valid"] > 0 and sizes["test"] > 0
    banks = {s: {src.rsplit("#", 1)[0] for src in np.asarray(store.sources)[store.split_indices(s)]}
             for s in sizes}
    assert not banks["train"] & banks["test"] and not banks["train"] & banks["valid"]
    assert not banks["valid"] & banks["test"]


def test_normalisation_uses_the_training_split_only(small_dexed_store) -> None:
    store = small_dexed_store
    train = np.asarray(store.mel[:])[store.split_indices("train")].astype(np.float64)
    assert store.mel_mean == pytest.approx(train.mean(), abs=1e-6)
    assert store.mel_std == pytest.approx(train.std(), rel=1e-6)
    everything = np.asarray(store.mel[:], dtype=np.float64)
    assert abs(everything.mean() - store.mel_mean) > 1e-4  # test rows did not leak into the statistics
    normalised = store.normalise_mel(train)
    assert normalised.mean() == pytest.approx(0, abs=1e-6) and normalised.std() == pytest.approx(1, rel=1e-6)


def test_read_rows_gives_the_rows_asked_for_in_their_order(small_dexed_store) -> None:
    store = small_dexed_store
    rows = np.array([len(store) - 1, 0, 3, 3])
    mel = store.read_rows("mel", rows, np.float32)
    assert mel.dtype == np.float32 and mel.shape == (4,) + tuple(store.mel.shape[1:])
    for got, row in zip(mel, rows):
        np.testing.assert_array_equal(got, store.mel[int(row)])
    np.testing.assert_array_equal(store.read_rows("params", slice(1, 3)), store.array("params")[1:3])
    assert store.read_rows("params", rows, np.float64).dtype == np.float64


def test_rows_rerender_exactly_from_their_presets(small_dexed_store) -> None:
    store = small_dexed_store
    synth = get_synth("dexed")
    for i in (0, 137, 299):
        preset = store.preset(i)
        assert preset.name == store.names[i]
        np.testing.assert_array_equal(synth.render(preset, store.render_settings), store.audio(i))
        for name in synth.parameters.names:  # non-learned parameters come from the base preset
            if name not in store.parameters:
                assert preset.values[name] == store.base_preset.values[name]



def test_a_rows_preset_file_carries_the_rows_name(small_dexed_store, tmp_path: Path) -> None:
    """Not the base preset's: its raw name bytes, kept for round trips, are not the row's."""
    from patchflow.plugins import parse_preset_file, write_presets

    store = small_dexed_store
    row = next(i for i in range(len(store)) if store.names[i] != store.base_preset.name)
    write_presets([store.preset(row)], tmp_path / "row.syx")
    (parsed,) = parse_preset_file(tmp_path / "row.syx").presets
    assert parsed.name == store.names[row].strip()[:10]


def test_loader_batches_are_normalised_deterministic_and_shard(small_dexed_store) -> None:
    store = small_dexed_store
    loader = make_loader(store, "train", 32, shuffle=True, seed=3)
    batch = next(iter(loader))
    assert batch["mel"].shape == (32, 128, 87) and batch["mel"].dtype == torch.float32
    assert batch["params"].shape == (32, 16) and batch["classes"].dtype == torch.int64
    rows = batch["index"].numpy()
    np.testing.assert_allclose(batch["mel"][0].numpy(), store[int(rows[0])].mel, atol=1e-5)
    np.testing.assert_array_equal(batch["params"][1].numpy(), store[int(rows[1])].params)
    first = [b["index"] for b in make_loader(store, "train", 32, seed=3)]
    again = [b["index"] for b in make_loader(store, "train", 32, seed=3)]
    other = [b["index"] for b in make_loader(store, "train", 32, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(torch.cat(first), torch.cat(other))
    assert sorted(torch.cat(first).tolist()) == store.split_indices("train").tolist()
    epoch_one = torch.cat([b["index"] for b in loader])  # `loader` was iterated once above: this is epoch 1
    assert not torch.equal(epoch_one, torch.cat(first))
    loader.set_epoch(0)
    assert torch.equal(torch.cat([b["index"] for b in loader]), torch.cat(first))
    shards = [torch.cat([b["index"] for b in make_loader(store, "train", 16, seed=3, rank=r, world_size=2)])
              for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    assert set(shards[0].tolist()) | set(shards[1].tolist()) == set(store.split_indices("train").tolist())
    assert len(make_loader(store, "test", 8, shuffle=False, drop_last=True)) == len(store.split_indices("test")) // 8


def test_unknown_split_and_missing_store_are_clear_errors(small_dexed_store, tmp_path) -> None:
    with pytest.raises(StoreError, match="unknown split"):
        small_dexed_store.split_indices("training")
    with pytest.raises(StoreError, match="no such store"):
        open_store(tmp_path / "nothing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a patchflow store"):
        open_store(tmp_path / "plain")
    assert PurePath(small_dexed_store.path).suffix == ".zarr"


def test_native_matrix_reads_ordered_partial_reordered_and_nan_presets_alike(dx7_dir: Path) -> None:
    from patchflow import get_synth
    from patchflow.data.corpus import native_matrix, read_corpus

    table = get_synth("dexed").parameters
    fill = table.defaults()
    voice = read_corpus("dexed", [dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"]).presets[3]
    values = dict(voice.values)
    partial = dict(list(values.items())[:10])
    reordered = dict(reversed(list(values.items())))
    with_nan = {**values, "algorithm": float("nan")}
    out_of_range = {**values, "feedback": 12.0}
    presets = [voice.model_copy(update={"values": v}) for v in (values, partial, reordered, with_nan, out_of_range)]
    matrix = native_matrix(presets, table, fill)
    expected = np.stack([table.clamp(np.array([v.get(n, f) for n, f in zip(table.names, fill)]))
                         for v in (values, partial, reordered, {**values, "algorithm": fill[table.index("algorithm")]},
                                   out_of_range)])
    np.testing.assert_array_equal(matrix, expected)
    assert matrix[4, table.index("feedback")] == 7.0  # clamped to the DX7 range
    assert native_matrix([], table, fill).shape == (0, len(table))
