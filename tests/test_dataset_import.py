"""Importing out-of-domain audio with a store's features: odd formats, rates, lengths, silence, corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from patchflow.data.features import log_mel
from patchflow.data.importing import AudioImportError, conform, import_audio
from patchflow.data.store import StoreError


def tone(rate: int, seconds: float, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t)
    return np.stack([mono * (c + 1) / channels for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture()
def odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sounds"
    (folder / "nested").mkdir(parents=True)
    soundfile.write(folder / "stereo_48k.wav", tone(48000, 2.0, channels=2), 48000)
    soundfile.write(folder / "short.flac", tone(22050, 0.5), 22050)
    soundfile.write(folder / "nested" / "long_44k.ogg", tone(44100, 6.0, freq=220.0), 44100)
    soundfile.write(folder / "silence.wav", np.zeros((22050, 1), np.float32), 22050)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(300))
    (folder / "notes.txt").write_text("not audio, not looked at")
    return folder


def test_odd_inputs_become_comparable_features(small_dexed_store, odd_folder: Path, tmp_path: Path) -> None:
    store = import_audio(odd_folder, small_dexed_store, tmp_path / "ood.zarr")
    assert store.kind == "audio" and store.status == "complete"
    assert [Path(s).name for s in store.sources] == ["corrupt.wav", "long_44k.ogg", "short.flac", "silence.wav",
                                                     "stereo_48k.wav"]
    assert store.mel.shape == (5, 128, 87) and store.audio_array.shape == (5, 88200)
    failures = {Path(f["source"]).name: f["reason"] for f in store.failures}
    assert set(failures) == {"corrupt.wav", "silence.wav"}
    assert "unreadable" in failures["corrupt.wav"] and "silent" in failures["silence.wav"]
    assert store.split_indices("test").tolist() == [1, 2, 4]
    # normalisation is the reference store's, so features are comparable with it
    assert (store.mel_mean, store.mel_std) == (small_dexed_store.mel_mean, small_dexed_store.mel_std)
    short = store.audio(2)
    assert np.all(short[11025:] == 0) and np.abs(short[:11025]).max() > 0  # 0.5 s padded with silence
    target = store.meta["target_peak"]
    for row in (1, 2, 4):
        assert np.abs(store.audio(row)).max() == pytest.approx(target, rel=1e-5)
    np.testing.assert_allclose(np.asarray(store.mel[4]), log_mel(store.audio(4)).numpy(), atol=1e-4)
    notes = {Path(n["source"]).name: n for n in store.meta["notes"]}
    assert notes["stereo_48k.wav"]["channels"] == 2 and notes["stereo_48k.wav"]["sample_rate"] == 48000
    assert np.isnan(store[1].params).all()


def test_conform_resamples_mixes_down_and_trims() -> None:
    stereo = tone(48000, 6.0, channels=2).T
    out = conform(stereo, 48000, 22050, 88200)
    assert out.shape == (88200,) and out.dtype == np.float32
    expected = conform(stereo.mean(axis=0), 48000, 22050, 88200)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 22050 / len(out) - 440) < 2  # the pitch survives resampling


def test_import_errors_are_clear(small_dexed_store, tmp_path: Path) -> None:
    with pytest.raises(AudioImportError, match="no such file"):
        import_audio(tmp_path / "missing", small_dexed_store, tmp_path / "a.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioImportError, match="no audio files"):
        import_audio(tmp_path / "empty", small_dexed_store, tmp_path / "b.zarr")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mp3").write_bytes(b"\x00" * 100)
    with pytest.raises(AudioImportError, match="x.mp3"):
        import_audio(bad, small_dexed_store, tmp_path / "c.zarr")
    with pytest.raises(StoreError):
        import_audio(bad, tmp_path / "nostore.zarr", tmp_path / "d.zarr")


def test_cli_import_audio(small_dexed_store, odd_folder: Path, tmp_path: Path) -> None:
    from patchflow.cli import app

    out = tmp_path / "cli_ood.zarr"
    result = CliRunner().invoke(app, ["dataset", "import-audio", str(odd_folder), "--like",
                                      str(small_dexed_store.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "3 clips imported, 2 failed" in text and "corrupt.wav" in text
    again = CliRunner().invoke(app, ["dataset", "import-audio", str(odd_folder), "--like",
                                     str(small_dexed_store.path), "--out", str(out)])
    assert again.exit_code == 1 and "exists" in again.output
