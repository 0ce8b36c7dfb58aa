"""Damaged run directories give one clear error, never a traceback; a failed checkpoint write keeps the old one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.errors import PatchflowError
from patchflow.runtime import load_run
from patchflow.training.state import CheckpointError, load_checkpoint, save_checkpoint

MODEL = "mlp"


@pytest.fixture()
def run_copy(tiny_run, tmp_path: Path) -> Path:
    """A copy of a tiny trained run that a test may damage."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run(MODEL), copy)
    return copy


def damage_config(run: Path) -> None:
    (run / "config.json").write_text("{ not json")


def invalid_config_field(run: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    config["epochs"] = "many"
    (run / "config.json").write_text(json.dumps(config))


def checkpoint_is_a_tensor(run: Path) -> None:
    torch.save(torch.zeros(3), run / "checkpoints" / "best.pt")


def checkpoint_is_a_list(run: Path) -> None:
    torch.save([1, 2, 3], run / "checkpoints" / "best.pt")


def zero_mel_std(run: Path) -> None:
    data = json.loads((run / "data.json").read_text())
    data["mel_std"] = 0.0
    (run / "data.json").write_text(json.dumps(data))


def nan_weights(run: Path) -> None:
    tensors = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    first = next(k for k, v in tensors["model"].items() if v.is_floating_point())
    tensors["model"][first] = torch.full_like(tensors["model"][first], float("nan"))
    torch.save(tensors, run / "checkpoints" / "best.pt")


def missing_data_key(run: Path) -> None:
    data = json.loads((run / "data.json").read_text())
    del data["parameters"]
    (run / "data.json").write_text(json.dumps(data))


@pytest.mark.parametrize("damage, expected", [
    (damage_config, "not a valid run config"),
    (invalid_config_field, "not a valid run config"),
    (checkpoint_is_a_tensor, "not a patchflow checkpoint"),
    (checkpoint_is_a_list, "not a patchflow checkpoint"),
    (zero_mel_std, "the run is broken"),
    (nan_weights, "NaN or infinite weights"),
    (missing_data_key, "not a valid description of the training data"),
])
def test_a_damaged_run_is_one_clear_error(run_copy: Path, damage, expected: str, tmp_path: Path) -> None:
    damage(run_copy)
    with pytest.raises(PatchflowError, match=expected):
        load_run(run_copy)
    tone = tmp_path / "tone.wav"
    import numpy as np
    import soundfile

    soundfile.write(tone, (0.3 * np.sin(np.arange(22050) / 10)).astype(np.float32), 22050)
    result = CliRunner().invoke(app, ["match", str(run_copy), str(tone), "--out", str(tmp_path / "m"),
                                      "--budget", "0"])
    assert result.exit_code == 1 and expected in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_checkpoint(tmp_path, "last", {"model": {"w": torch.ones(2)}}, {"epoch": 1})

    def disk_full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device.*previous checkpoint is kept"):
        save_checkpoint(tmp_path, "last", {"model": {"w": torch.zeros(2)}}, {"epoch": 2})
    monkeypatch.undo()
    tensors, info = load_checkpoint(tmp_path, "last")
    assert info["epoch"] == 1 and torch.equal(tensors["model"]["w"], torch.ones(2))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.json", "last.pt"]


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A real 256 KiB file system (tmpfs), mounted for the test: writes beyond it fail with ENOSPC."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:  # only where mounting is not allowed; the monkeypatched test above still runs
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_keeps_the_previous_checkpoint(tiny_disk: Path) -> None:
    save_checkpoint(tiny_disk, "last", {"model": {"w": torch.ones(8)}}, {"epoch": 1})
    with pytest.raises(CheckpointError, match="previous checkpoint is kept"):
        save_checkpoint(tiny_disk, "last", {"model": {"w": torch.zeros(200_000)}}, {"epoch": 2})  # 800 kB
    tensors, info = load_checkpoint(tiny_disk, "last")
    assert info["epoch"] == 1 and torch.equal(tensors["model"]["w"], torch.ones(8))
    assert sorted(p.name for p in (tiny_disk / "checkpoints").iterdir()) == ["last.json", "last.pt"]


def test_match_refuses_bad_targets_and_outputs_before_searching(tiny_run, tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    run = tiny_run(MODEL)
    faint = tmp_path / "faint.wav"
    soundfile.write(faint, np.full(22050, 1e-40, dtype=np.float32), 22050, subtype="FLOAT")
    result = CliRunner().invoke(app, ["match", str(run), str(faint), "--out", str(tmp_path / "m1")])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "are silent" in said and "nan" not in said.lower()
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"\x00not audio at all" * 10)
    result = CliRunner().invoke(app, ["match", str(run), str(garbage), "--out", str(tmp_path / "m2")])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "cannot read audio (" in said and "cannot read audio ()" not in said
    assert "Warning" not in result.output and "Traceback" not in result.output
    tone = tmp_path / "tone.wav"
    soundfile.write(tone, (0.3 * np.sin(np.arange(22050) / 10)).astype(np.float32), 22050)
    taken = tmp_path / "taken.txt"
    taken.write_text("keep")
    result = CliRunner().invoke(app, ["match", str(run), str(tone), "--out", str(taken)])
    assert result.exit_code == 1 and "is a file" in result.output and taken.read_text() == "keep"


@pytest.fixture()
def read_only_dir(tmp_path: Path):
    """A real read-only file system (tmpfs mounted ro) for the test."""
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:  # only where mounting is not allowed
        pytest.skip(f"cannot mount a read-only file system here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_outputs_are_one_line(tiny_run, read_only_dir: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    run = tiny_run(MODEL)
    tone = tmp_path / "tone.wav"
    soundfile.write(tone, (0.3 * np.sin(np.arange(22050) / 10)).astype(np.float32), 22050)
    for args in (["export", str(run), "--out", str(read_only_dir / "e")],
                 ["match", str(run), str(tone), "--out", str(read_only_dir / "m"), "--budget", "0"]):
        result = CliRunner().invoke(app, args)
        said = " ".join(result.output.split())
        assert result.exit_code == 1 and "Read-only file system" in said, (args[0], result.output[-2000:])
        assert "Traceback" not in result.output
