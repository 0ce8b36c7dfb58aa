"""Writing ``--out`` never loses user data: ``--overwrite`` removes only stores patchflow wrote, an ``--out`` that
holds an input is refused, and one writer at a time holds a store or a run directory (a lock naming its owner)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.data.build import BuildOptions, build_store
from patchflow.data.importing import import_audio
from patchflow.data.outputs import is_store_folder
from patchflow.data.store import StoreError, open_store
from patchflow.locking import LOCK_NAME, FolderLock, FolderLockedError

PARAMS = "op1_output_level,op2_output_level,op2_frequency_coarse,op3_env_rate1,algorithm,feedback,lfo_wave,transpose"


@pytest.fixture()
def bank(dx7_dir: Path) -> Path:
    return dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"


@pytest.fixture()
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.txt"
    path.write_text(PARAMS.replace(",", "\n") + "\n")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def build_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from patchflow.cli import main; main()", "dataset", "build", "--synth", "dexed",
               "--workers", "1", "--no-progress", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------------------ --overwrite
def test_overwrite_refuses_an_out_that_is_the_presets_folder(bank: Path, params_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(bank, folder / "ROM1A.syx")
    (folder / "notes.txt").write_text("my notes\n")
    before = snapshot(folder)
    result = build_cli("--presets", str(folder), "--params", str(params_file), "--out", str(folder), "--overwrite")
    assert result.returncode != 0
    said = " ".join(result.stderr.split())
    assert "is or contains the input" in said and "Traceback" not in said
    assert snapshot(folder) == before


def test_overwrite_refuses_a_folder_that_is_not_a_store(bank: Path, params_file: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("three years of work\n")
    result = build_cli("--presets", str(bank), "--params", str(params_file), "--out", str(precious), "--overwrite")
    assert result.returncode != 0
    said = " ".join(result.stderr.split())
    assert "not a patchflow store" in said and "thesis.txt" in said
    assert (precious / "thesis.txt").read_text() == "three years of work\n"
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.txt"]


def test_overwrite_refuses_a_store_holding_foreign_files(bank: Path, params_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    build_store("dexed", [bank], out, BuildOptions(params=str(params_file)), workers=1)
    (out / "README.txt").write_text("mine\n")
    assert not is_store_folder(out)
    with pytest.raises(StoreError, match="README.txt"):
        build_store("dexed", [bank], out, BuildOptions(params=str(params_file), seed=3), workers=1, overwrite=True)
    assert (out / "README.txt").exists() and open_store(out).meta["split"]["seed"] == 0


def test_overwrite_still_replaces_a_store(bank: Path, params_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    build_store("dexed", [bank], out, BuildOptions(params=str(params_file)), workers=1)
    assert is_store_folder(out)
    replaced = build_store("dexed", [bank], out, BuildOptions(params=str(params_file), seed=2), workers=1,
                           overwrite=True)
    assert replaced.meta["split"]["seed"] == 2 and not (out / LOCK_NAME).exists()


def test_an_empty_folder_is_a_fine_out(bank: Path, params_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert len(build_store("dexed", [bank], out, BuildOptions(params=str(params_file)), workers=1)) == 32


def test_a_store_inside_its_presets_folder_resumes(bank: Path, params_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "presets"
    folder.mkdir()
    shutil.copy(bank, folder / "ROM1A.syx")
    out = folder / "store.zarr"
    first = build_store("dexed", [folder], out, BuildOptions(params=str(params_file)), workers=1)
    assert len(first) == 32 and first.counts["files"] == 1
    mtime = (out / "zarr.json").stat().st_mtime_ns
    # The store's own files are not inputs: the same build is recognised as done, not "other input files".
    again = build_store("dexed", [folder], out, BuildOptions(params=str(params_file)), workers=1)
    assert len(again) == 32 and (out / "zarr.json").stat().st_mtime_ns == mtime


def write_tone(path: Path) -> None:
    t = np.arange(22050 * 2) / 22050
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)


def test_import_audio_overwrite_removes_only_stores(small_dexed_store, tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    write_tone(sounds / "tone.wav")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep\n")
    with pytest.raises(StoreError, match="not a patchflow store"):
        import_audio(sounds, small_dexed_store, precious, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "keep\n"
    with pytest.raises(StoreError, match="is or contains the input"):
        import_audio(sounds, small_dexed_store, sounds, overwrite=True)
    assert (sounds / "tone.wav").exists()
    out = tmp_path / "ood.zarr"
    import_audio(sounds, small_dexed_store, out)
    again = import_audio(sounds, small_dexed_store, out, overwrite=True)
    assert len(again) == 1
    result = CliRunner().invoke(app, ["dataset", "import-audio", str(sounds), "--like", str(small_dexed_store.path),
                                      "--out", str(precious), "--overwrite"])
    assert result.exit_code != 0 and "not a patchflow store" in " ".join(result.output.split())
    assert (precious / "thesis.txt").exists()


# ------------------------------------------------------------------------------------------------------- locks
HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from patchflow.locking import FolderLock
    lock = FolderLock(sys.argv[1], "store").acquire()
    print("locked", flush=True)
    time.sleep(120)
""")


@pytest.fixture()
def held_lock(tmp_path: Path):
    """Factory: a separate process that holds the lock of a folder until the test ends."""
    processes: list[subprocess.Popen] = []

    def hold(folder: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "locked"
        processes.append(process)
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_second_writer_is_refused_and_names_the_first(bank: Path, params_file: Path, tmp_path: Path,
                                                        held_lock) -> None:
    out = tmp_path / "s.zarr"
    holder = held_lock(out)
    result = build_cli("--presets", str(bank), "--params", str(params_file), "--out", str(out))
    said = " ".join(result.stderr.split())
    assert result.returncode != 0 and "Traceback" not in said
    assert f"being written by process {holder.pid}" in said
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written beside the holder


def test_concurrent_builds_one_wins_the_other_is_refused(bank: Path, params_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    command = [sys.executable, "-c", "from patchflow.cli import main; main()", "dataset", "build", "--synth", "dexed",
               "--presets", str(bank), "--params", str(params_file), "--out", str(out), "--workers", "1",
               "--no-progress"]
    first = subprocess.Popen([*command, "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "chunk_done").exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    first.send_signal(signal.SIGSTOP)  # a writer caught mid-build (stopped, it still holds the lock)
    try:
        assert first.poll() is None, "the first build ended before the second could start"
        second = subprocess.run([*command, "--seed", "2", "--overwrite"], capture_output=True, text=True,
                                timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert second.returncode != 0 and f"being written by process {first.pid}" in " ".join(second.stderr.split())
    store = open_store(out)
    assert store.meta["split"]["seed"] == 1 and len(store) == 32


def test_a_stale_lock_is_taken_over(bank: Path, params_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    killed = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    assert killed.stdout.readline().strip() == "locked"
    killed.kill()
    killed.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == killed.pid  # left behind by kill -9
    result = build_cli("--presets", str(bank), "--params", str(params_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())  # the console may wrap long lines
    assert "took over the lock" in said and f"process {killed.pid}" in said
    assert len(open_store(out)) == 32 and not (out / LOCK_NAME).exists()


def test_lock_is_exclusive_within_a_process_and_released(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    with FolderLock(folder, "store") as lock:
        assert json.loads(lock.path.read_text())["pid"] > 0
        with pytest.raises(FolderLockedError, match="being written by process"):
            FolderLock(folder, "store").acquire()
    assert not folder.exists()  # created for the lock, nothing written: removed again
    folder.mkdir()
    (folder / "kept.txt").write_text("x")
    with FolderLock(folder):
        pass
    assert sorted(p.name for p in folder.iterdir()) == ["kept.txt"]


def test_lock_on_a_file_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(Exception, match="is a file"):
        FolderLock(file).acquire()


def test_a_run_directory_has_one_writer(small_dexed_store, tiny_run_overrides: dict, tmp_path: Path,
                                        held_lock) -> None:
    from patchflow.training import make_config, train

    out = tmp_path / "run"
    held_lock(out)
    with pytest.raises(FolderLockedError, match="run directory is being written"):
        train(make_config(small_dexed_store.path, out, "vae", preset="small", overrides=tiny_run_overrides))
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_resume_writes_the_run_directory_given(small_dexed_store, tiny_run_overrides: dict, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from patchflow.training import make_config, train

    original = tmp_path / "A"
    train(make_config(small_dexed_store.path, original, "vae", preset="small",
                      overrides=dict(tiny_run_overrides, epochs=1)))
    copy = tmp_path / "B"
    shutil.copytree(original, copy)
    before = snapshot(original)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(app, ["train", "--resume", "--out", str(copy), "--epochs", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert snapshot(original) == before
    assert json.loads((copy / "config.json").read_text())["out"] == str(copy)
    assert len((copy / "metrics.csv").read_text().strip().splitlines()) == 3  # header + two epochs
