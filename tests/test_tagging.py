"""Tag pairs from the folders presets were found in (dataset build --tags), on the real shared DX7 corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.data.build import BuildOptions, build_store
from patchflow.data.tagging import TagRulesError, load_tag_rules

PARAMS = ["op1_output_level", "op2_output_level", "op2_frequency_coarse", "algorithm", "feedback"]


def test_the_shipped_dx7_mapping_reads_and_names_pairs() -> None:
    rules = load_tag_rules("dexed:dx7-folders")
    names = [r.name for r in rules]
    assert "Percussive/Sustained" in names and "Brass/Strings" in names
    brass = next(r for r in rules if r.name == "Brass/Strings")
    assert brass.side_of("!Instruments/Brass/BRASS_01.SYX") == "Brass"
    assert brass.side_of("!instruments/strings/violin/x.syx") == "Strings"  # case-insensitive
    assert brass.side_of("!Instruments/Woodwind/FLUTE.SYX") is None


def test_bad_mappings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TagRulesError, match="ships no tag mapping"):
        load_tag_rules("dexed:nope")
    with pytest.raises(TagRulesError, match="not found"):
        load_tag_rules(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[pair]]\nname = "Brass"\n')
    with pytest.raises(TagRulesError, match="like 'Brass/Strings'"):
        load_tag_rules(bad)


def test_a_build_takes_tags_from_folders(dx7_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.txt"
    params.write_text("\n".join(PARAMS) + "\n")
    brass, strings = dx7_dir / "!Instruments" / "Brass", dx7_dir / "!Instruments" / "Strings" / "Violin"
    mapping = tmp_path / "families.toml"
    mapping.write_text('[[pair]]\nname = "Brass/Strings"\nBrass = ["Brass/*"]\nStrings = ["Strings/Violin/*"]\n')
    root = dx7_dir / "!Instruments"
    store = build_store("dexed", [root / "Brass" / "BRASS_01.SYX", root / "Brass" / "BRASS_02.SYX", strings],
                        tmp_path / "plain.zarr", BuildOptions(params=str(params)), workers=2)
    assert store.tag_pairs == []  # files given one by one: no folder to read the families from
    options = BuildOptions(params=str(params), limit=400, tags=mapping)
    store = build_store("dexed", [root], tmp_path / "tagged.zarr", options, workers=2)
    assert store.tag_pairs == ["Brass/Strings"]
    values = np.asarray(store.array("tags")[:])[:, 0]
    sources = store.sources
    for value, source in zip(values, sources):
        expected = 1 if "/Brass/" in source else -1 if "/Strings/Violin/" in source else 0
        assert value == expected, source
    assert (values == 1).any() and (values == -1).any()
    assert not brass.is_relative_to(tmp_path)


def test_the_cli_takes_the_shipped_mapping(dx7_dir: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.txt"
    params.write_text("\n".join(PARAMS) + "\n")
    out = tmp_path / "s.zarr"
    result = CliRunner().invoke(app, ["dataset", "build", "--synth", "dexed", "--presets",
                                      str(dx7_dir / "!Instruments" / "Brass"), "--params", str(params), "--out",
                                      str(out), "--tags", "dexed:nope", "--no-progress"])
    assert result.exit_code == 1 and "ships no tag mapping" in result.output and not out.exists()
