"""Building stores: resume after kill -9, failures recorded, options checked, the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from patchflow import UnknownParameterError, get_synth
from patchflow.data.build import BuildOptions, build_store
from patchflow.data.features import FeatureSettings
from patchflow.data.render import accept_clip, render_batch
from patchflow.data.store import StoreError, open_group, open_store
from patchflow.errors import PatchflowError
from patchflow.synth import RenderSettings

PARAMS = ["op1_output_level", "op2_output_level", "op2_frequency_coarse", "op3_env_rate1", "algorithm",
          "feedback", "lfo_wave", "transpose"]
ROW_ARRAYS = ("audio", "mel", "params", "native", "classes", "tags", "names", "sources", "peak", "ok", "error",
              "split", "fold", "chunk_done")


@pytest.fixture()
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.txt"
    path.write_text("# learned parameters\n" + "\n".join(PARAMS[:4]) + "\n" + ", ".join(PARAMS[4:]) + "\n")
    return path


def build_command(corpus: Path, params: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", "from patchflow.cli import main; main()", "dataset", "build", "--synth", "dexed",
            "--presets", str(corpus), "--params", str(params), "--out", str(out), "--limit", "320",
            "--workers", "1", "--split", "grouped", "--folds", "3", "--no-progress"]


def chunks_done(out: Path) -> int:
    """Chunks marked done on disk. zarr writes each mark to a temporary ``*.partial`` file and renames it; those
    are not marks yet (a kill at that moment leaves the chunk to be redone)."""
    marks = out / "chunk_done" / "c"
    return sum(1 for mark in marks.iterdir() if mark.name.isdigit()) if marks.is_dir() else 0


def interrupt(command: list[str], out: Path, sig: int) -> subprocess.CompletedProcess:
    """Start a build and send ``sig`` once it has finished one more chunk than it started with."""
    before = chunks_done(out)
    # a shell ignores SIGINT in the commands it starts in the background, and the build would inherit that; a
    # user's Ctrl-C reaches a build with the default disposition, so the build starts with it here
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and chunks_done(out) <= before:
        time.sleep(0.02)
    assert process.poll() is None, f"the build ended before it could be interrupted: {process.stderr.read()!r}"
    os.kill(process.pid, sig)
    _, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, "", stderr)


def assert_same_store(a: Path, b: Path) -> None:
    ga, gb = open_group(a), open_group(b)
    for name in ROW_ARRAYS:
        np.testing.assert_array_equal(np.asarray(ga[name][:]), np.asarray(gb[name][:]), err_msg=name)
    ma, mb = dict(ga.attrs["patchflow"]), dict(gb.attrs["patchflow"])
    for key in ("parameters", "base_preset", "norm", "counts", "failures", "split", "selection", "fingerprint"):
        assert ma[key] == mb[key], key


def test_resume_after_ctrl_c_and_kill_gives_the_same_store(dx7_dir: Path, params_file: Path,
                                                            tmp_path: Path) -> None:
    corpus = dx7_dir / "Bo Tomlyn"
    reference = tmp_path / "reference.zarr"
    build_store("dexed", [corpus], reference,
                BuildOptions(params=str(params_file), limit=320, split="grouped", folds=3), workers=1)
    out = tmp_path / "interrupted.zarr"
    command = build_command(corpus, params_file, out)
    for _ in range(3):  # Ctrl-C: the running chunk ends, then the build stops
        stopped = interrupt(command, out, signal.SIGINT)
        if stopped.returncode != 0:
            break
        # the signal landed after the build's last chunk (the build takes a second; a busy machine can delay the
        # signal that long): nothing was interrupted, so interrupt a new build
        shutil.rmtree(out)
    assert stopped.returncode == 130 and "interrupted" in stopped.stderr
    after_ctrl_c = chunks_done(out)
    killed = interrupt(command, out, signal.SIGKILL)  # the resumed build is killed outright
    assert killed.returncode == -signal.SIGKILL and "resuming" in killed.stderr
    done = np.asarray(open_group(out)["chunk_done"][:])
    assert after_ctrl_c < done.sum() < len(done)
    assert open_store(out, allow_incomplete=True).status == "building"
    with pytest.raises(StoreError, match="resume"):
        open_store(out)
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert_same_store(reference, out)
    store = open_store(out)
    assert len(store.meta["timing"]["runs"]) == 1  # interrupted runs never finalized
    assert store.meta["timing"]["runs"][0]["rendered"] == 320 - 64 * int(done.sum())
    # parse failures of the corpus (performance dumps are not voice banks) are listed with their reason
    parse_failures = [f for f in store.failures if f["stage"] == "parse"]
    assert parse_failures and all("voice" in f["reason"] for f in parse_failures)
    assert store.n_folds == 3 and set(np.unique(store.folds)) == {0, 1, 2}


def test_a_failing_disk_stops_the_build_with_a_clear_error_and_it_resumes_after(dx7_dir: Path, params_file: Path,
                                                                                 tmp_path: Path) -> None:
    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"
    banks = [bank, dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1B.syx"]
    options = BuildOptions(params=str(params_file))
    reference = tmp_path / "reference.zarr"
    build_store("dexed", banks, reference, options, workers=2)
    out = tmp_path / "broken-disk.zarr"
    build_store("dexed", banks, out, options, workers=2)
    # undo the render stage, then make the audio chunks unwritable: a file where their folder must be
    group = open_group(out, "r+")
    group["chunk_done"][:] = False
    group.attrs["patchflow"] = dict(group.attrs["patchflow"], status="building")
    chunk_folder = out / "audio" / "c"
    for chunk in chunk_folder.iterdir():
        chunk.unlink() if chunk.is_file() else shutil.rmtree(chunk)
    chunk_folder.rmdir()
    chunk_folder.write_text("not a folder")
    with pytest.raises(Exception, match="writing the store failed"):
        build_store("dexed", banks, out, options, workers=2)
    assert not np.asarray(open_group(out)["chunk_done"][:]).any()  # nothing was marked done without its audio
    chunk_folder.unlink()
    resumed = build_store("dexed", banks, out, options, workers=2)
    assert len(resumed) == 64
    assert_same_store(reference, out)


def test_rebuild_is_a_no_op_and_other_options_refuse_to_overwrite(dx7_dir: Path, params_file: Path,
                                                                   tmp_path: Path) -> None:
    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"
    out = tmp_path / "rom1a.zarr"
    first = build_store("dexed", [bank], out, BuildOptions(params=str(params_file)), workers=1)
    assert len(first) == 32 and first.counts["usable"] == 32
    mtime = (out / "zarr.json").stat().st_mtime_ns
    again = build_store("dexed", [bank], out, BuildOptions(params=str(params_file)), workers=1)
    assert (out / "zarr.json").stat().st_mtime_ns == mtime and len(again) == 32
    with pytest.raises(StoreError, match="other options"):
        build_store("dexed", [bank], out, BuildOptions(params=str(params_file), seed=1))
    replaced = build_store("dexed", [bank], out, BuildOptions(params=str(params_file), seed=1), overwrite=True)
    assert replaced.meta["split"]["seed"] == 1


def test_corrupt_files_are_recorded_and_the_build_goes_on(dx7_dir: Path, params_file: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "broken.syx").write_bytes(b"this is no sysex dump\n" * 40)
    (corpus / "empty.syx").write_bytes(b"")
    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"
    store = build_store("dexed", [corpus, bank], tmp_path / "s.zarr", BuildOptions(params=str(params_file)),
                        workers=1)
    failed = {Path(f["source"]).name: f for f in store.failures}
    assert {"broken.syx", "empty.syx"} <= set(failed)
    assert all(f["stage"] == "parse" and f["reason"] for f in failed.values())
    assert store.counts["files_failed"] == 2 and store.counts["usable"] == 32


def test_render_failures_are_reasons_not_crashes() -> None:
    synth = get_synth("dexed")
    base = synth.default_preset()
    mute = base.model_copy(update={"values": {**base.values, **{f"op{k}_output_level": 0.0 for k in range(1, 7)}}})

    class NanSynth(type(synth)):
        def render(self, preset, *args, **kwargs):
            audio = super().render(preset, *args, **kwargs)
            return audio * np.nan if preset.name == "nan" else audio

    settings = RenderSettings(total_seconds=1.0, note_seconds=0.5)
    result = render_batch(NanSynth(), [base, mute, base.model_copy(update={"name": "nan"})], settings)
    assert result.errors[0] == ""
    assert result.errors[1].startswith("silent")
    assert "NaN" in result.errors[2]
    assert np.all(result.audio[1:] == 0) and np.abs(result.audio[0]).max() > 0.1


def test_accept_clip_copies_usable_audio_and_names_every_other_case() -> None:
    row = np.full(8, 7.0, dtype=np.float32)
    clip = np.linspace(-0.5, 0.25, 16)[::2]  # float64 and not contiguous: converted like any engine's output
    assert accept_clip(clip, row) == ("", 0.5)
    np.testing.assert_array_equal(row, clip.astype(np.float32))
    for bad, reason in [(np.full(8, np.inf), "NaN or infinite"), (np.zeros(8), "silent"),
                        (np.ones(9), "shape (9,)")]:
        row[:] = 7.0
        assert reason in accept_clip(bad, row)[0] and not row.any()
    assert accept_clip(np.zeros(0), np.zeros(0, np.float32)) == ("render returned no samples", 0.0)


def test_bad_options_are_clear_errors(dx7_dir: Path, tmp_path: Path) -> None:
    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"
    typo = tmp_path / "typo.txt"
    typo.write_text("op1_output_levle\n")
    with pytest.raises(UnknownParameterError, match="op1_output_level"):
        build_store("dexed", [bank], tmp_path / "a.zarr", BuildOptions(params=str(typo)))
    from patchflow import PatchflowError

    with pytest.raises(PatchflowError, match="expected 16, 32, 64"):
        build_store("dexed", [bank], tmp_path / "b.zarr", BuildOptions(params="sixteen"))
    with pytest.raises(PatchflowError, match="not found"):
        build_store("dexed", [tmp_path / "missing"], tmp_path / "c.zarr")
    runner = CliRunner()
    from patchflow.cli import app

    result = runner.invoke(app, ["dataset", "build", "--synth", "dexed", "--presets", str(bank), "--params",
                                 str(typo), "--out", str(tmp_path / "d.zarr")])
    assert result.exit_code == 1 and "did you mean" in result.output


def test_build_options_are_checked_when_made() -> None:
    for values, message in (({"split": "folder"}, "unknown split 'folder'; choose random or grouped"),
                            ({"folds": 1}, "--folds needs at least 2 folds"),
                            ({"limit": 0}, "--limit must be at least 1"),
                            ({"random_presets": -1}, "--random-presets must be at least 0"),
                            ({"perturbed_presets": -1}, "--perturbed-presets must be at least 0"),
                            ({"perturbed_presets": 5, "perturb_scale": 0}, "--perturb-scale must be in"),
                            ({"perturbed_presets": 5, "folds": 3}, "cannot be combined with --folds"),
                            ({"features": FeatureSettings(sample_rate=44100)}, "sample rates differ")):
        with pytest.raises(PatchflowError, match=message):
            BuildOptions(**values)
    options = BuildOptions(params=16, settings=RenderSettings(sample_rate=16000), tags=Path("families.toml"))
    assert options.params == "16" and options.tags == "families.toml"
    assert options.features == FeatureSettings(sample_rate=16000)  # the default recipe at the render rate


def test_cli_build_and_info(dx7_dir: Path, params_file: Path, tmp_path: Path) -> None:
    from patchflow.cli import app

    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1B.syx"
    out = tmp_path / "cli.zarr"
    runner = CliRunner()
    built = runner.invoke(app, ["dataset", "build", "--synth", "dexed", "--presets", str(bank), "--params",
                                str(params_file), "--out", str(out), "--workers", "2", "--no-progress",
                                "--total-seconds", "2", "--note-seconds", "1"])
    assert built.exit_code == 0, built.output
    info = runner.invoke(app, ["dataset", "info", str(out)])
    assert info.exit_code == 0, info.output
    for text in ("presets read", "duplicates", "algorithm", "categorical", "Split: random", "Normalisation",
                 "held 1.0 s of 2.0 s", "presets/s", "per preset: render"):
        assert text in info.output, text
    store = open_store(out)
    assert store.mel.shape[2] == 44  # 2 s at hop 1024
    stages = store.meta["timing"]["runs"][0]["stages"]
    assert stages["render_cpu_s"] > 0 and stages["features_cpu_s"] > 0 and stages["write_busy_s"] > 0


def test_parser_option_reads_with_the_named_parser_only(dx7_dir: Path, params_file: Path, tmp_path: Path) -> None:
    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"
    with pytest.raises(PatchflowError, match="did you mean 'dx7-sysex'"):
        build_store("dexed", [bank], tmp_path / "a.zarr", BuildOptions(params=str(params_file), parser="dx7-sysx"))
    assert not (tmp_path / "a.zarr").exists()
    options = BuildOptions(params=str(params_file), parser="dx7-sysex")
    store = build_store("dexed", [bank], tmp_path / "b.zarr", options, workers=1)
    assert len(store) == 32 and store.meta["build"]["parser"] == "dx7-sysex"
    with pytest.raises(PatchflowError, match="no readable dexed preset"):
        options = BuildOptions(params=str(params_file), parser="patchflow-json")
        build_store("dexed", [bank], tmp_path / "c.zarr", options, workers=1)


def test_random_presets_fill_the_training_split_only(dx7_dir: Path, params_file: Path, tmp_path: Path) -> None:
    folder = dx7_dir / "Original Yamaha" / "DX7 ROM1"
    options = BuildOptions(params=str(params_file), split="random", random_presets=70)
    store = build_store("dexed", [folder], tmp_path / "r.zarr", options, workers=2)
    sources = store.sources
    drawn = np.array([s.startswith("random#") for s in sources])
    assert drawn.sum() == 70 and store.counts["random_presets"] == 70
    codes = store.split_codes
    assert np.all(codes[drawn & store.ok] == 0)
    assert not np.any(drawn[store.split_indices("test")]) and not np.any(drawn[store.split_indices("valid")])
    real = np.flatnonzero(~drawn & store.ok)
    assert len(store.split_indices("test")) > 0 and set(codes[real]) == {0, 1, 2}
    params = np.asarray(store.array("params")[:])[drawn]
    assert params.min() >= 0 and params.max() <= 1 and params.std(axis=0).min() > 0.1  # spread over the ranges
    again = build_store("dexed", [folder], tmp_path / "r.zarr", options, workers=2)
    np.testing.assert_array_equal(np.asarray(again.array("params")[:]), np.asarray(store.array("params")[:]))


def test_perturbed_presets_train_only_beside_their_training_parents(dx7_dir: Path, params_file: Path,
                                                                    tmp_path: Path) -> None:
    folders = [dx7_dir / "Original Yamaha" / "DX7 ROM1", dx7_dir / "Bo Tomlyn", dx7_dir / "Ray"]
    options = BuildOptions(params=str(params_file), split="grouped", group_by="file", limit=120,
                           perturbed_presets=90, perturb_scale=0.05)
    store = build_store("dexed", folders, tmp_path / "p.zarr", options, workers=2)
    sources = store.sources
    parents = np.array([int(s.rpartition("@")[2]) if s.startswith("perturbed#") else -1 for s in sources])
    perturbed = np.flatnonzero(parents >= 0)
    assert len(perturbed) == 90 and store.counts["perturbed_presets"] == 90
    codes = store.split_codes
    real = parents < 0
    assert set(codes[real & store.ok]) == {0, 1, 2}  # the real voices' split is the usual one
    trains = codes[parents[perturbed]] == 0
    assert 0 < trains.sum() < 90  # some parents train, some are held out
    np.testing.assert_array_equal(codes[perturbed], np.where(trains, 0, -1))
    assert store.counts["perturbed_training"] == int(trains.sum())
    assert not np.any(parents[store.split_indices("test")] >= 0)
    params = np.asarray(store.array("params")[:])
    moved = np.abs(params[perturbed] - params[parents[perturbed]])
    assert moved.max() > 0.05 and np.median(moved.max(axis=1)) < 0.3  # near the parent, not uniform
    uniform = np.abs(params[perturbed] - params[np.random.default_rng(0).permutation(perturbed)])
    assert moved.mean() < 0.5 * uniform.mean()
    assert all(store.names[i].startswith(store.names[parents[i]] + " ~") for i in perturbed)
    again = build_store("dexed", folders, tmp_path / "p.zarr", options, workers=2)
    np.testing.assert_array_equal(np.asarray(again.array("params")[:]), params)
    with pytest.raises(StoreError, match="--perturb-scale 0.05 there, 0.2 now"):
        build_store("dexed", folders, tmp_path / "p.zarr",
                    BuildOptions(params=str(params_file), split="grouped", group_by="file", limit=120,
                                 perturbed_presets=90, perturb_scale=0.2), workers=2)


def test_split_like_holds_out_the_same_groups_as_another_store(dx7_dir: Path, params_file: Path,
                                                               tmp_path: Path) -> None:
    folders = [dx7_dir / "Original Yamaha" / "DX7 ROM1", dx7_dir / "Bo Tomlyn", dx7_dir / "Ray", dx7_dir / "Sonus"]
    first = build_store("dexed", folders, tmp_path / "a.zarr",
                        BuildOptions(params=str(params_file), split="grouped", group_by="file", limit=200), workers=2)
    # the same corpus, more parameters (so other duplicates and other row counts), given by another path
    relative = [Path(os.path.relpath(f, tmp_path)) for f in folders[:3]]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        second = build_store("dexed", relative, tmp_path / "b.zarr",
                             BuildOptions(params="all", split="grouped", group_by="file", limit=260,
                                          split_like=tmp_path / "a.zarr"), workers=2)
    finally:
        os.chdir(cwd)
    split_of = {}
    for store in (first, second):
        files = [s.rsplit("#", 1)[0] for s in store.sources]
        split_of[store] = {Path(f).resolve(): int(c) for f, c, ok in zip(files, store.split_codes, store.ok) if ok}
    shared = set(split_of[first]) & set(split_of[second])
    assert len(shared) > 5 and {split_of[first][f] for f in shared} == {0, 1, 2}
    assert all(split_of[first][f] == split_of[second][f] for f in shared)
    assert all(split_of[second][f] == 2 for f in set(split_of[second]) - shared)  # unknown banks: test
    assert second.meta["split"]["like"].endswith("a.zarr")
    with pytest.raises(PatchflowError, match="--split-like needs --split grouped"):
        BuildOptions(split="random", split_like=tmp_path / "a.zarr")
    with pytest.raises(PatchflowError, match="not split grouped by folder"):
        BuildOptions(split="grouped", group_by="folder", split_like=tmp_path / "a.zarr").config(folders)
