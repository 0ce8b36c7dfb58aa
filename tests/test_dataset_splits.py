"""Split, fold and statistics rules, and the parameter-list reader, on their own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchflow import UnknownParameterError, get_synth
from patchflow.data.selection import SelectionError, corpus_spread, read_names_file
from patchflow.data.splits import assign_splits, group_keys, mel_statistics


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), n_groups=st.integers(1, 60), seed=st.integers(0, 2**16),
       folds=st.sampled_from([None, 3, 5]), grouped=st.booleans(), bad=st.floats(0, 0.3))
def test_splits_partition_usable_rows_and_never_cut_a_group(n, n_groups, seed, folds, grouped, bad) -> None:
    rng = np.random.default_rng(seed)
    ok = rng.random(n) >= bad
    keys = [f"bank{k}" for k in rng.integers(0, n_groups, n)]
    split, fold = assign_splits(ok, keys, "grouped" if grouped else "random", seed, folds)
    assert np.all((split == -1) == ~ok)  # unusable rows belong to no split
    again, fold_again = assign_splits(ok, keys, "grouped" if grouped else "random", seed, folds)
    assert np.array_equal(split, again) and np.array_equal(fold, fold_again)
    if grouped:
        for key in set(keys):
            rows = [i for i, k in enumerate(keys) if k == key and ok[i]]
            assert len(set(split[rows])) <= 1 and len(set(fold[rows])) <= 1
    elif ok.sum() >= 20:
        train = (split == 0).sum() / ok.sum()
        assert abs(train - 0.8) <= 1 / ok.sum() + 1e-9
    if folds:
        assert set(fold[ok]) <= set(range(folds)) and np.all(fold[~ok] == -1)
        if not grouped and ok.sum() >= folds:
            sizes = np.bincount(fold[ok], minlength=folds)
            assert sizes.max() - sizes.min() <= 1


def test_group_keys_by_file_and_folder() -> None:
    sources = ["/c/a/x.syx#3", "/c/a/y.syx#0", "/c/b/x.syx#1"]
    assert group_keys(sources, "file") == ["/c/a/x.syx", "/c/a/y.syx", "/c/b/x.syx"]
    assert group_keys(sources, "folder") == ["/c/a", "/c/a", "/c/b"]
    with pytest.raises(ValueError):
        group_keys(sources, "author")


def test_mel_statistics_read_in_chunks_equal_numpy() -> None:
    mel = np.random.default_rng(0).normal(-40, 20, (150, 4, 3)).astype(np.float32)
    rows = np.array([0, 5, 63, 64, 65, 140, 149])
    mean, std = mel_statistics(mel, rows, 64)
    assert mean == pytest.approx(mel[rows].astype(np.float64).mean())
    assert std == pytest.approx(mel[rows].astype(np.float64).std())


def test_corpus_spread_uses_impurity_for_classes() -> None:
    table = get_synth("dexed").parameters.subset(["algorithm", "feedback"])
    constant = np.array([[4.0, 3.0]] * 10)
    assert np.all(corpus_spread(table, constant) == 0)
    varied = np.array([[k % 4, 7.0 * (k % 2)] for k in range(8)], dtype=float)
    spread = corpus_spread(table, varied)
    assert spread[0] == pytest.approx(0.75) and spread[1] == pytest.approx(0.5)


def test_names_file_errors(tmp_path: Path) -> None:
    table = get_synth("dexed").parameters
    path = tmp_path / "names.txt"
    path.write_text("algorithm, feedback  # two\n\nop1_output_level\n")
    assert read_names_file(path, table) == ["algorithm", "feedback", "op1_output_level"]
    path.write_text("# nothing\n")
    with pytest.raises(SelectionError, match="no parameter names"):
        read_names_file(path, table)
    path.write_text("algorithm\nalgorithm\n")
    with pytest.raises(SelectionError, match="twice"):
        read_names_file(path, table)
    path.write_text("algoritm\n")
    with pytest.raises(UnknownParameterError, match="algorithm"):
        read_names_file(path, table)
    with pytest.raises(SelectionError, match="cannot read"):
        read_names_file(tmp_path / "missing.txt", table)
