"""UNIT spectrogram translation (seed 003): the model's shapes and losses, `translate train` with an exact resume,
`translate apply`'s picture and Griffin-Lim WAV, and one-line errors for stores that do not fit."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.models.unit import UnitConfig, UnitTranslator
from patchflow.training.translation import TranslationTrainConfig, _load_mels, train_translation

runner = CliRunner()
TINY = {"channels": 8, "latent_channels": 8, "disc_channels": 8}


def _recording(rate: int, seconds: float, freq: float, kind: str, seed: int) -> np.ndarray:
    """A tone unlike a DX7 voice: noise-shaped (a resonant filter on noise) or a bowed-like sawtooth with vibrato."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    if kind == "noise":
        noise = rng.standard_normal(t.size)
        spectrum = np.fft.rfft(noise)
        f = np.fft.rfftfreq(t.size, 1 / rate)
        spectrum *= 1.0 / (1.0 + ((f - freq) / (0.05 * freq)) ** 2)
        sound = np.fft.irfft(spectrum, t.size)
    else:
        phase = np.cumsum(freq * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / rate
        sound = 2 * (phase % 1.0) - 1
    envelope = np.minimum(1.0, t / 0.3) * np.exp(-0.4 * t)
    return (0.5 * sound / np.abs(sound).max() * envelope).astype(np.float32)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recordings") / "wavs"
    folder.mkdir()
    for i, freq in enumerate((196.0, 262.0, 330.0, 440.0, 523.0, 659.0)):
        kind = "noise" if i % 2 else "saw"
        soundfile.write(folder / f"{kind}_{int(freq)}.wav", _recording(44100, 3.0, freq, kind, i), 44100)
    return folder


@pytest.fixture(scope="module")
def store_a(recordings, small_dexed_store, tmp_path_factory) -> Path:
    from patchflow.data.importing import import_audio

    out = tmp_path_factory.mktemp("domain_a") / "a.zarr"
    import_audio(recordings, small_dexed_store, out)
    return out


def test_shapes_and_losses_decrease(store_a, small_dexed_store) -> None:
    from patchflow.data.store import open_store

    torch.manual_seed(0)
    mels_a, mels_b = _load_mels(open_store(store_a)), _load_mels(small_dexed_store)[:32]
    shape = tuple(mels_a.shape[1:])
    assert shape == tuple(small_dexed_store.mel.shape[1:]) == (128, 87)
    model = UnitTranslator(UnitConfig(input_shape=shape, **TINY))
    mu, logvar = model.encode(mels_a[:2], "a")
    assert mu.shape == logvar.shape == (2, 8, 32, 22)
    assert model.decode(mu, "b").shape == (2, *shape)
    assert model.translate(mels_a[:2]).shape == (2, *shape) == model.translate(mels_b[:2], "b", "a").shape
    assert model.discriminate(mels_b[:2], "b").shape[:2] == (2, 1)
    steps = model.training_steps()
    assert [s.name for s in steps] == ["gen", "disc"]
    assert {id(p) for p in steps[0].parameters}.isdisjoint(id(p) for p in steps[1].parameters)
    assert sum(len(s.parameters) for s in steps) == len(list(model.parameters()))
    gen = torch.optim.Adam(steps[0].parameters, lr=1e-3, betas=(0.5, 0.999))
    disc = torch.optim.Adam(steps[1].parameters, lr=1e-3, betas=(0.5, 0.999))
    x_a, x_b = mels_a[:4, :, :44], mels_b[:4, :, :44]  # the first half of the clips: half the time
    recon, cycle = [], []
    for _ in range(30):
        loss, terms = model.loss(x_a, x_b)
        gen.zero_grad()
        loss.backward()
        gen.step()
        d_loss, d_terms = model.disc_loss(x_a, x_b, *model.last_translations)
        disc.zero_grad()
        d_loss.backward()
        disc.step()
        values = [loss, d_loss, *terms.values(), *d_terms.values()]
        assert all(torch.isfinite(v) for v in values)
        recon.append(float(terms["recon_a"] + terms["recon_b"]))
        cycle.append(float(terms["cycle_a"] + terms["cycle_b"]))
    assert np.mean(recon[-5:]) < 0.7 * np.mean(recon[:5])
    assert np.mean(cycle[-5:]) < np.mean(cycle[:5])


def test_train_resumes_exactly_and_apply_writes_png_and_wav(store_a, small_dexed_store, recordings,
                                                            tmp_path) -> None:
    b = small_dexed_store.path
    config = TranslationTrainConfig(steps=6, batch_size=4, checkpoint_every=2, model=UnitConfig(**TINY))
    straight = train_translation(store_a, b, tmp_path / "straight", config)
    assert straight["step"] == 6 and straight["resumed_from"] is None

    run = tmp_path / "run"
    args = ["translate", "train", "--a", str(store_a), "--b", str(b), "--out", str(run), "--steps", "4",
            "--batch-size", "4", "--checkpoint-every", "2", "--channels", "8", "--latent-channels", "8",
            "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "4 steps" in first.stdout
    again = runner.invoke(app, [*args[:9], "6", *args[10:]])
    assert again.exit_code == 0, again.output
    info = json.loads((run / "checkpoints" / "last.json").read_text())
    assert info["step"] == 6
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    resumed = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    reference = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)

    other = runner.invoke(app, [*args[:9], "6", *args[10:11], "8", *args[12:]])  # another batch size
    assert other.exit_code == 1 and other.output.startswith("error:") and "batch_size" in other.output

    sound = recordings / "saw_330.wav"
    out = tmp_path / "translated"
    applied = runner.invoke(app, ["translate", "apply", str(run), str(sound), "--out", str(out),
                                  "--griffin-lim-iterations", "4"])
    assert applied.exit_code == 0, applied.output
    png, wav = out / "saw_330_translated.png", out / "saw_330_translated.wav"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    audio, rate = soundfile.read(wav)
    settings = small_dexed_store.render_settings
    assert rate == settings.sample_rate and len(audio) == settings.num_samples
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0
    mel = np.load(out / "saw_330_translated_mel.npy")
    assert mel.shape == tuple(small_dexed_store.mel.shape[1:]) and np.all(np.isfinite(mel))


def test_one_line_errors(store_a, small_dexed_store, tmp_path) -> None:
    import zarr

    narrow = tmp_path / "narrow.zarr"
    shutil.copytree(store_a, narrow)
    group = zarr.open_group(str(narrow), mode="r+")
    mel = np.asarray(group["mel"][:])[:, :64, :]
    del group["mel"]
    group.create_array("mel", shape=mel.shape, dtype="float32", chunks=(64, *mel.shape[1:]), fill_value=0.0)
    group["mel"][:] = mel
    result = runner.invoke(app, ["translate", "train", "--a", str(narrow), "--b", str(small_dexed_store.path),
                                 "--out", str(tmp_path / "run"), "--steps", "1", "--no-progress"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "64 x 87" in lines[0] and "128 x 87" in lines[0]
    assert not (tmp_path / "run").exists()

    bad = runner.invoke(app, ["translate", "train", "--a", str(store_a), "--b", str(small_dexed_store.path),
                              "--out", str(tmp_path / "run"), "--lambdas", "1,2,3"])
    assert bad.exit_code == 1 and "five comma-separated weights" in bad.output

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    taken = runner.invoke(app, ["translate", "train", "--a", str(store_a), "--b", str(small_dexed_store.path),
                                "--out", str(foreign), "--steps", "1", "--no-progress"])
    assert taken.exit_code == 1 and "holds other files" in taken.output
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    wav = tmp_path / "x.wav"
    soundfile.write(wav, np.zeros(22050, np.float32), 22050)
    not_run = runner.invoke(app, ["translate", "apply", str(tmp_path), str(wav)])
    assert not_run.exit_code == 1 and len(not_run.output.strip().splitlines()) == 1
    assert "not a translation run" in not_run.output


def test_match_reads_the_translated_mel(store_a, small_dexed_store, recordings, tiny_run, tmp_path) -> None:
    run = tmp_path / "translation"
    train_translation(store_a, small_dexed_store.path, run,
                      TranslationTrainConfig(steps=2, batch_size=2, model=UnitConfig(**TINY)))
    matcher = tiny_run("mlp")
    sound = recordings / "saw_330.wav"
    common = [str(matcher), str(sound), "--budget", "0", "--latent-samples", "0", "--neighbours", "0",
              "--no-progress", "--json"]
    plain = runner.invoke(app, ["match", *common, "--out", str(tmp_path / "plain")])
    translated = runner.invoke(app, ["match", *common, "--out", str(tmp_path / "translated"), "--translate", str(run)])
    assert plain.exit_code == 0, plain.output
    assert translated.exit_code == 0, translated.output
    plain_json, translated_json = json.loads(plain.stdout), json.loads(translated.stdout)
    assert plain_json["translated"] is False and "translation" not in plain_json
    assert translated_json["translated"] is True and translated_json["translation"] == str(run)
    # the model read another mel: it proposed other values
    assert plain_json["candidates"][0]["values"] != translated_json["candidates"][0]["values"]

    not_run = runner.invoke(app, ["match", *common, "--out", str(tmp_path / "x"), "--translate", str(matcher)])
    assert not_run.exit_code == 1 and "not a translation run" in not_run.output


def test_a_domain_classifier_takes_translated_clips_for_domain_b(tone_domains, tmp_path) -> None:
    """Issue 17's property: a classifier of the two domains (fitted on real clips, checked on held-out ones)
    assigns square tones translated A -> B to the sine domain more often than the square tones themselves. A run
    of one iteration does not: its translation is a blur, which the classifier takes for A."""
    from tone_domains import domain_classifier

    from patchflow.data.store import open_store
    from patchflow.runtime.translation import load_translator

    a_path, b_path = tone_domains
    mels_a, mels_b = (np.asarray(open_store(p).mel[:], dtype=np.float32) for p in (a_path, b_path))
    held_out = domain_classifier(mels_a[::2], mels_b[::2])
    assert (held_out(mels_a[1::2]) < 0.5).mean() == 1.0 and (held_out(mels_b[1::2]) > 0.5).mean() == 1.0
    p_b = domain_classifier(mels_a, mels_b)

    def assigned_to_b(steps: int) -> float:
        run = tmp_path / f"run{steps}"
        train_translation(a_path, b_path, run, TranslationTrainConfig(
            steps=steps, batch_size=8, checkpoint_every=steps, model=UnitConfig(**TINY)))
        return float((p_b(load_translator(run).translate_mel(mels_a)) > 0.5).mean())

    untranslated = float((p_b(mels_a) > 0.5).mean())
    trained, barely = assigned_to_b(100), assigned_to_b(1)
    assert untranslated == 0.0
    assert trained >= 0.75 > untranslated
    assert barely <= 0.25


def test_avb_kl_terms_train_and_resume_exactly(store_a, small_dexed_store, tmp_path) -> None:
    """``--kl avb``: the shared last layer of the encoders is AVB's implicit posterior and each domain has a KL
    discriminator T(h, z) (patchflow.models.avb's), trained in a third step; 2 + 2 iterations give the weights of
    4, and the discriminators' logistic loss falls below chance (they tell the posterior from the prior)."""
    from patchflow.models.avb import Discriminator, ImplicitPosterior

    model = UnitTranslator(UnitConfig(input_shape=(128, 87), kl="avb", **TINY))
    assert isinstance(model.posterior, ImplicitPosterior) and isinstance(model.kl_disc_b, Discriminator)
    assert not hasattr(model, "enc_shared")
    steps = model.training_steps()
    assert [s.name for s in steps] == ["gen", "disc", "kl"]
    ids = [{id(p) for p in s.parameters} for s in steps]
    assert all(ids[i].isdisjoint(ids[j]) for i in range(3) for j in range(i + 1, 3))
    assert sum(map(len, ids)) == len(list(model.parameters()))
    x = torch.randn(2, 128, 87)
    mode, none = model.encode(x, "a")
    assert mode.shape == (2, 8, 32, 22) and none is None
    z, kl = model.posterior_sample(x, "b")
    assert z.shape == mode.shape and kl.shape == () and len(model.last_posteriors["b"]) == 1

    b = small_dexed_store.path
    config = TranslationTrainConfig(steps=4, batch_size=4, checkpoint_every=2, model=UnitConfig(kl="avb", **TINY))
    train_translation(store_a, b, tmp_path / "straight", config)
    run = tmp_path / "run"
    args = ["translate", "train", "--a", str(store_a), "--b", str(b), "--out", str(run), "--steps", "2",
            "--batch-size", "4", "--checkpoint-every", "2", "--channels", "8", "--latent-channels", "8",
            "--kl", "avb", "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, [*args[:9], "4", *args[10:]])
    assert again.exit_code == 0, again.output
    resumed = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    reference = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert any(k.startswith("kl_disc_a.") for k in reference)
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert all(np.isfinite([m["kl_loss"], m["t_a"], m["t_b"], m["kl_a"]]).all() for m in metrics)

    gaussian = runner.invoke(app, [*args[:9], "6", *args[10:-3], "--no-progress"])  # the same run without --kl avb
    assert gaussian.exit_code == 1 and "other model settings" in gaussian.output

    long = train_translation(store_a, b, tmp_path / "long", TranslationTrainConfig(
        steps=40, batch_size=4, checkpoint_every=40, model=UnitConfig(kl="avb", **TINY)))
    lines = (tmp_path / "long" / "metrics.jsonl").read_text().splitlines()
    losses = [m["t_a"] + m["t_b"] for m in map(json.loads, lines)]
    assert long["step"] == 40 and len(losses) == 40
    assert np.mean(losses[-5:]) < min(np.mean(losses[:5]) - 0.05, 2 * 2 * math.log(2))
