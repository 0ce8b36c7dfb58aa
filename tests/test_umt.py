"""The universal music translation network (seed 004): mu-law coding, shapes, the causal decoder and its
generation cache, the paper's size, training through `translate train --model umt` with an exact resume, what a
few hundred CPU iterations learn on two tone domains, `translate apply`'s WAV and picture, and `match --translate`
with a UMT run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from tone_domains import UMT_TEST_SIZE
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.data.store import open_store
from patchflow.models.umt import (CONFUSION_STEP, MAIN_STEP, UmtConfig, UmtConfigError, UmtTranslator,
                                  mu_law_decode, mu_law_encode, reconstruction_loss)
from patchflow.training.translation import TranslationTrainConfig, umt_batch, train_translation

runner = CliRunner()
TINY = UmtConfig(**UMT_TEST_SIZE)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_mu_law_shapes_causality_and_the_generation_cache() -> None:
    torch.manual_seed(0)
    audio = torch.rand(3, 1000) * 1.8 - 0.9
    classes = mu_law_encode(audio)
    assert classes.dtype == torch.long and int(classes.min()) >= 0 and int(classes.max()) <= 255
    assert float((mu_law_decode(classes) - audio).abs().max()) < 0.02
    assert mu_law_encode(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]

    model = UmtTranslator(TINY)
    code = model.encode(classes)
    assert code.shape == (3, 8, 10)
    decoder = model.decoders["b"]
    logits = decoder(classes, code)
    assert logits.shape == (3, 256, 1000)
    changed = classes.clone()
    changed[:, 500] = (changed[:, 500] + 100) % 256
    after = decoder(changed, code)
    assert torch.equal(after[:, :, :501], logits[:, :, :501])  # the sample at 500 is read from 501 on
    assert not torch.allclose(after[:, :, 501], logits[:, :, 501])

    for p in decoder.parameters():  # sharper distributions than at initialisation: few near-ties
        p.data.mul_(3)
    drawn = decoder.generate(code[:, :, :3], 300, temperature=0)
    assert drawn.shape == (3, 300)
    assert torch.equal(decoder(drawn, code[:, :, :3]).argmax(dim=1), drawn)  # the cache computes forward's logits
    sampled = decoder.generate(code[:, :, :3], 300, generator=torch.Generator().manual_seed(1))
    again = decoder.generate(code[:, :, :3], 300, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sampled, again) and not torch.equal(sampled, drawn)

    steps = model.training_steps()
    assert [s.name for s in steps] == [MAIN_STEP, CONFUSION_STEP]
    assert {id(p) for p in steps[0].parameters}.isdisjoint(id(p) for p in steps[1].parameters)
    assert sum(len(s.parameters) for s in steps) == len(list(model.parameters()))
    loss, terms = model.loss(classes, classes, classes, classes)
    assert set(terms) == {"recon_a", "recon_b", "confusion_a", "confusion_b"} and torch.isfinite(loss)
    c_loss, c_terms = model.step_loss(CONFUSION_STEP)
    assert torch.isfinite(c_loss) and 0.0 <= float(c_terms["classifier_accuracy"]) <= 1.0


def test_the_paper_size_and_bad_settings() -> None:
    paper = UmtConfig.paper()
    assert (paper.sample_rate, paper.clip_samples, paper.pool, paper.latent_channels) == (16000, 12000, 800, 64)
    assert (paper.encoder_blocks, paper.encoder_layers, paper.decoder_blocks, paper.decoder_layers) == (3, 10, 4, 14)
    assert paper.receptive_field == 4 * (2 ** 14 - 1) + 1
    model = UmtTranslator(paper)
    assert model.encode(torch.zeros(1, 1600, dtype=torch.long)).shape == (1, 64, 2)
    assert UmtConfig.from_json(paper.to_json()) == paper
    with pytest.raises(UmtConfigError, match="multiple of pool"):
        UmtConfig(clip_samples=1000, pool=300)
    with pytest.raises(UmtConfigError, match="unknown UMT settings"):
        UmtConfig.from_json({"channels": 3})


def test_the_pitch_augmentation_reads_the_clip_faster_or_slower() -> None:
    rate, freq = 8000, 200.0
    t = np.arange(8000) / rate
    clips = torch.from_numpy(np.sin(2 * np.pi * freq * t).astype(np.float32))[None]
    plain, shifted = umt_batch(clips, 64, 2000, 0.5, torch.Generator().manual_seed(0))
    assert plain.shape == shifted.shape == (64, 2000)

    def frequency(classes: torch.Tensor) -> float:
        wave = mu_law_decode(classes).numpy()
        crossings = np.flatnonzero((wave[:-1] < 0) & (wave[1:] >= 0))
        return (len(crossings) - 1) / ((crossings[-1] - crossings[0]) / rate)

    ratios = np.array([frequency(s) / frequency(p) for p, s in zip(plain, shifted)])
    assert np.all(ratios > 2 ** (-0.55 / 12)) and np.all(ratios < 2 ** (0.55 / 12))
    assert ratios.std() > 0.005  # the clips are shifted by different amounts
    none = umt_batch(clips, 4, 2000, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(none[0], none[1])


@pytest.fixture(scope="module")
def trained(tone_domains, tmp_path_factory) -> Path:
    """A tiny UMT trained for 300 iterations from square tones (A) to sine tones (B)."""
    a, b = tone_domains
    out = tmp_path_factory.mktemp("umt") / "run"
    train_translation(a, b, out, TranslationTrainConfig(steps=300, batch_size=8, lr=2e-3, checkpoint_every=300,
                                                        model=TINY, max_clips=16))
    return out


def test_a_few_hundred_iterations_learn_each_domain_in_its_own_decoder(trained, tone_domains) -> None:
    """The reconstruction loss falls, and each decoder is the better model of its own domain: on clips of B the
    decoder of B gives a lower negative log-likelihood than the decoder of A, on clips of A the other way round
    (at initialisation the two are alike). The classifier property of issue 17 (translated A-clips called B more
    often than untranslated ones) is *not* asserted: at this size sampled translations are still noise-like and
    are called A (docs/guide/translation.md gives the measurement)."""
    from patchflow.runtime.translation import load_translator
    from patchflow.training.translation import load_clips

    metrics = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    recon = [m["recon_a"] + m["recon_b"] for m in metrics]
    assert len(recon) == 300 and np.mean(recon[-20:]) < 0.8 * np.mean(recon[:20])
    model = load_translator(trained).model
    generator = torch.Generator().manual_seed(7)
    nll = {}
    for source, path in zip("ab", tone_domains):
        clips, _ = umt_batch(load_clips(open_store(path), TINY.sample_rate, 16, 0), 32, 1000, 0.0, generator)
        with torch.no_grad():
            code = model.encode(clips)
            nll[source] = {d: float(reconstruction_loss(model.decoders[d](clips, code), clips)) for d in "ab"}
    assert nll["b"]["b"] < nll["b"]["a"] - 0.1 and nll["a"]["a"] < nll["a"]["b"] - 0.1


def test_translate_train_resumes_exactly(tone_domains, tmp_path) -> None:
    a, b = tone_domains
    config = TranslationTrainConfig(steps=4, batch_size=2, checkpoint_every=2, model=UmtConfig(), max_clips=8)
    train_translation(a, b, tmp_path / "straight", config)
    run = tmp_path / "run"
    args = ["translate", "train", "--model", "umt", "--a", str(a), "--b", str(b), "--out", str(run), "--steps",
            "2", "--batch-size", "2", "--checkpoint-every", "2", "--max-clips", "8", "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "domain classifier" in first.stdout
    again = runner.invoke(app, [*args[:11], "4", *args[12:]])
    assert again.exit_code == 0, again.output
    facts = json.loads((run / "translation.json").read_text())
    assert facts["kind"] == "umt" and facts["model"] == UmtConfig().to_json()
    resumed = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    reference = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(resumed["model"][k], reference["model"][k]) for k in reference["model"])
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]

    other = runner.invoke(app, [*args[:11], "6", *args[12:17], "4", *args[18:]])  # another --max-clips
    assert other.exit_code == 1 and "max_clips" in other.output
    foreign = runner.invoke(app, [*args, "--kl", "avb"])
    assert foreign.exit_code == 1 and "--kl: not an option of --model umt" in foreign.output
    size = runner.invoke(app, [*args[:2], "--model", "unit", *args[4:], "--size", "paper"])
    assert size.exit_code == 1 and "--size: not an option of --model unit" in size.output


def test_learning_rate_decay_and_gradient_clipping_apply_and_resume_exactly(tone_domains, tmp_path) -> None:
    """The UMT authors' optimisation (a decaying learning rate for the encoder and decoders, gradients clipped by
    value): the decay is applied at its interval, a run resumed across it ends where a straight one does, the
    clipping changes the result, and a resume with other settings is refused."""
    from patchflow.training.errors import TrainingError

    a, b = tone_domains
    base = {"batch_size": 2, "checkpoint_every": 2, "model": UmtConfig(), "max_clips": 8}
    schedule = {"lr_decay": 0.5, "lr_decay_steps": 2, "grad_clip": 1e-4}
    straight, resumed, plain = tmp_path / "straight", tmp_path / "resumed", tmp_path / "plain"
    train_translation(a, b, straight, TranslationTrainConfig(steps=4, **base, **schedule))
    train_translation(a, b, resumed, TranslationTrainConfig(steps=2, **base, **schedule))
    train_translation(a, b, resumed, TranslationTrainConfig(steps=4, **base, **schedule))
    train_translation(a, b, plain, TranslationTrainConfig(steps=4, **base))
    last = {run: torch.load(run / "checkpoints" / "last.pt", weights_only=True) for run in (straight, resumed, plain)}
    assert all(torch.equal(last[resumed]["model"][k], last[straight]["model"][k]) for k in last[straight]["model"])
    assert any(not torch.equal(last[plain]["model"][k], last[straight]["model"][k]) for k in last[plain]["model"])
    # step 4 ran at 2e-4 * 0.5 ** (3 // 2); the confusion classifier's rate does not decay
    assert last[straight]["optimizer_main"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    assert last[straight]["optimizer_confusion"]["param_groups"][0]["lr"] == pytest.approx(2e-4)
    with pytest.raises(TrainingError, match="grad_clip"):
        train_translation(a, b, resumed, TranslationTrainConfig(steps=6, **base, **{**schedule, "grad_clip": 1.0}))
    with pytest.raises(TrainingError, match="decay"):
        TranslationTrainConfig(lr_decay=0.0).check()

    run = tmp_path / "cli"
    cli = runner.invoke(app, ["translate", "train", "--model", "umt", "--a", str(a), "--b", str(b), "--out",
                              str(run), "--steps", "1", "--batch-size", "2", "--max-clips", "8", "--lr-decay", "0.9",
                              "--grad-clip", "0.5", "--no-progress"])
    assert cli.exit_code == 0, cli.output
    train = json.loads((run / "translation.json").read_text())["train"]
    assert (train["lr"], train["lr_decay"], train["grad_clip"]) == (2e-4, 0.9, 0.5)


def test_apply_writes_the_generated_audio_and_match_reads_its_mel(trained, tone_domains, tiny_run, tmp_path
                                                                  ) -> None:
    from patchflow.runtime.translation import TranslationRunError, load_translator

    sound = tmp_path / "square.wav"
    audio_a = np.asarray(open_store(tone_domains[0]).audio_array[3])
    soundfile.write(sound, audio_a, 22050)
    out = tmp_path / "translated"
    applied = runner.invoke(app, ["translate", "apply", str(trained), str(sound), "--out", str(out)])
    assert applied.exit_code == 0, applied.output
    assert "WaveNet decoder at 8000 Hz" in applied.stdout
    assert (out / "square_translated.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wave, rate = soundfile.read(out / "square_translated.wav")
    assert rate == 22050 and len(wave) == len(audio_a) and np.all(np.isfinite(wave))
    assert 0.5 < np.abs(wave).max() <= 1.0 and wave.std() > 0.01
    spectrum = np.abs(np.fft.rfft(wave))
    assert spectrum[np.fft.rfftfreq(len(wave), 1 / rate) > 4100].sum() < 0.01 * spectrum.sum()  # made at 8 kHz
    mel = np.load(out / "square_translated_mel.npy")
    assert mel.shape == tuple(open_store(tone_domains[0]).mel.shape[1:])

    translator = load_translator(trained)
    with pytest.raises(TranslationRunError, match="translates audio"):
        translator.translate_mel(mel)
    assert np.array_equal(translator.translate_wave(audio_a[:4000]), translator.translate_wave(audio_a[:4000]))

    matcher = tiny_run("mlp")
    common = [str(matcher), str(sound), "--budget", "0", "--latent-samples", "0", "--neighbours", "0",
              "--note", "60", "--no-progress", "--json"]
    plain = runner.invoke(app, ["match", *common, "--out", str(tmp_path / "plain")])
    translated = runner.invoke(app, ["match", *common, "--out", str(tmp_path / "umt"), "--translate", str(trained)])
    assert plain.exit_code == 0, plain.output
    assert translated.exit_code == 0, translated.output
    plain_json, translated_json = json.loads(plain.stdout), json.loads(translated.stdout)
    assert translated_json["translated"] is True and translated_json["translation"] == str(trained)
    assert plain_json["candidates"][0]["values"] != translated_json["candidates"][0]["values"]


def test_models_lists_the_three_seed_models_once_each() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = [r["name"] for r in rows]
    assert all(names.count(n) == 1 for n in ("vae_avb", "unit", "umt"))
    by_name = {r["name"]: r for r in rows}
    assert by_name["vae_avb"]["trained_by"] == "patchflow train"
    assert by_name["umt"]["trained_by"] == "patchflow translate train --model umt"
    assert "WaveNet" in by_name["umt"]["description"] and "AVB" in by_name["unit"]["description"]


def test_the_tone_check_script_measures_translations_against_fair_classifiers(trained, tone_domains) -> None:
    """``scripts/umt_tone_check.py``: a classifier fitted on the clips taken through the model's sample rate calls a
    perfect mu-law copy of a sine tone "square" (the quantisation floor fills its empty bands), one fitted on the
    clips as the model hears them calls it "sine"; the script's table has every classifier and level, and shares
    in [0, 1]."""
    from repo_scripts import load_script
    from tone_domains import as_model_hears, at_rate, domain_classifier

    from patchflow.data.features import log_mel
    from patchflow.runtime.translation import load_translator

    check = load_script("umt_tone_check")
    stores = [open_store(p) for p in tone_domains]
    rate = stores[0].render_settings.sample_rate
    audio_a, audio_b = (np.asarray(s.audio_array[:], dtype=np.float32) for s in stores)
    features = load_translator(trained).features

    def mels(audio: np.ndarray) -> np.ndarray:
        return np.stack([log_mel(clip, features).numpy() for clip in audio])

    heard_a, heard_b = (mels(as_model_hears(x, rate, TINY.sample_rate)) for x in (audio_a, audio_b))
    rated = [mels(at_rate(x, rate, TINY.sample_rate)) for x in (audio_a, audio_b)]
    assert (domain_classifier(*rated)(heard_b) > 0.5).mean() == 0.0
    assert (domain_classifier(heard_a, heard_b)(heard_b) > 0.5).mean() == 1.0

    rows = check.measure(trained, *tone_domains, temperature=0.7, clips=1)
    assert set(rows) == {"rate", "heard", "shape"}
    for row in rows.values():
        assert set(row) == {"untranslated", *(f"a->{t} @ {db:+.0f} dB" for db in check.LEVELS_DB for t in "ba")}
        assert all(0.0 <= share <= 1.0 for share in row.values()) and row["untranslated"] == 0.0
