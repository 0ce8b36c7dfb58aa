"""Log-mel features against librosa, on real Dexed renders and on synthetic edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from patchflow import RenderSettings, get_synth
from patchflow.data.features import FeatureSettings, _mel_batched, log_mel, log_mel_into, magnitude_mel

#: Agreement with librosa, in dB, on bins above -80 dB.
TOLERANCE_DB = 0.01


def librosa_log_mel(audio: np.ndarray, s: FeatureSettings) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=s.sample_rate, n_fft=s.n_fft, hop_length=s.hop,
                                         n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax, power=1.0, center=True,
                                         pad_mode="constant")
    return librosa.amplitude_to_db(mel, ref=1.0, amin=s.amin, top_db=None)


@pytest.fixture(scope="module")
def dexed_clips() -> np.ndarray:
    synth = get_synth("dexed")
    base = synth.default_preset()
    variants = [base,
                base.model_copy(update={"values": {**base.values, "algorithm": 4.0, "feedback": 7.0}}),
                base.model_copy(update={"values": {**base.values, "op2_output_level": 40.0, "transpose": 36.0}})]
    return np.stack([synth.render(p, RenderSettings()) for p in variants])


def test_matches_librosa_on_real_renders(dexed_clips: np.ndarray) -> None:
    settings = FeatureSettings()
    ours = log_mel(dexed_clips, settings).numpy()
    assert ours.shape == (3, 128, 87) and ours.dtype == np.float32
    for clip, mel in zip(dexed_clips, ours):
        reference = librosa_log_mel(clip, settings)
        loud = reference > -80
        assert loud.mean() > 0.2  # the comparison covers a real share of the bins
        assert np.max(np.abs(mel[loud] - reference[loud])) < TOLERANCE_DB


def test_matches_librosa_on_noise_odd_length_and_other_rate() -> None:
    rng = np.random.default_rng(0)
    settings = FeatureSettings(sample_rate=44100)
    clip = (0.3 * rng.standard_normal(44100 + 517)).astype(np.float32)
    ours = log_mel(clip, settings).numpy()
    reference = librosa_log_mel(clip, settings)
    assert ours.shape == reference.shape == (128, settings.frames(clip.size))
    loud = reference > -80
    assert np.max(np.abs(ours[loud] - reference[loud])) < TOLERANCE_DB


def test_batches_equal_single_clips_and_silence_hits_the_floor(dexed_clips: np.ndarray) -> None:
    batch = np.concatenate([dexed_clips] * 7)  # more than one internal slice
    together = log_mel(torch.from_numpy(batch))
    alone = torch.stack([log_mel(c) for c in batch])
    assert torch.allclose(together, alone, atol=1e-4)
    silent = log_mel(np.zeros(88200, dtype=np.float32))
    assert torch.allclose(silent, torch.full_like(silent, -100.0))


def test_cpu_fast_path_equals_the_batched_device_path(dexed_clips: np.ndarray) -> None:
    # the batched path is what runs on GPUs; on the CPU it serves as the reference for the sparse clip-by-clip one
    settings = FeatureSettings()
    fast = log_mel(dexed_clips, settings)
    batched = _mel_batched(torch.from_numpy(dexed_clips), settings)
    assert torch.allclose(fast, batched, atol=1e-3)
    out = np.full((3, 128, 87), np.nan, dtype=np.float32)
    log_mel_into(dexed_clips, out, settings)
    np.testing.assert_array_equal(out, fast.numpy())


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        log_mel_into(np.zeros((2, 88200), dtype=np.float32), np.zeros((2, 128, 80), dtype=np.float32))
    with pytest.raises(ValueError, match="batch, samples"):
        log_mel(np.zeros((2, 2, 100), dtype=np.float32))


def test_magnitude_mel_matches_librosa_and_finds_a_sine():
    import librosa

    settings = FeatureSettings()
    t = np.arange(22050) / 22050
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    ours = magnitude_mel(sine, settings)
    reference = librosa.feature.melspectrogram(y=sine, sr=22050, n_fft=2048, hop_length=1024, n_mels=128, fmin=30,
                                               fmax=11000, power=1.0, pad_mode="constant")
    assert ours.shape == reference.shape
    assert np.max(np.abs(ours - reference)) <= 1e-4 * np.max(reference)
    centres = librosa.mel_frequencies(n_mels=128 + 2, fmin=30, fmax=11000)[1:-1]
    loudest = int(np.argmax(ours[:, 5]))
    assert abs(centres[loudest] - 1000) < 60
    assert magnitude_mel(np.stack([sine, sine]), settings).shape == (2,) + ours.shape


def test_magnitude_and_log_mel_are_one_spectrogram_with_fmax_clamped_to_nyquist():
    import librosa

    settings = FeatureSettings(sample_rate=16000, n_mels=64, n_fft=1024, hop=256, fmin=20.0, fmax=11000.0)
    clip = (0.3 * np.random.default_rng(3).standard_normal(16000)).astype(np.float32)
    magnitudes = magnitude_mel(clip, settings)
    reference = librosa.feature.melspectrogram(y=clip, sr=16000, n_fft=1024, hop_length=256, n_mels=64, fmin=20,
                                               fmax=8000, power=1.0, pad_mode="constant")
    assert magnitudes.shape == reference.shape == (64, settings.frames(clip.size))
    assert np.max(np.abs(magnitudes - reference)) <= 1e-4 * np.max(reference)
    np.testing.assert_allclose(log_mel(clip, settings).numpy(),
                               20 * np.log10(np.maximum(magnitudes, settings.amin)), atol=1e-4)

