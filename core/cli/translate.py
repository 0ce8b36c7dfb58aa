"""``patchflow translate``: learn to translate recordings into a synth's sound without paired data (UNIT on
log-mels, or the universal music translation network on audio), and apply a trained translation to a sound."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from .app import console, friendly_errors

translate_app = typer.Typer(help="Translate recordings into a synth's domain without paired data (UNIT on "
                            "spectrograms, UMT on audio).", no_args_is_help=True)
#: The models ``translate train --model`` trains.
MODELS = ("unit", "umt")
#: The sizes of the UMT model ``--size`` chooses.
UMT_SIZES = ("cpu", "paper")
#: ``--size paper``'s optimisation, from the UMT authors' training script: Adam at 1e-3, decayed by 0.995 every
#: 1,000 iterations, gradients clipped by value at 1.
PAPER_OPTIMISATION = {"lr": 1e-3, "lr_decay": 0.995, "lr_decay_steps": 1000, "grad_clip": 1.0}


def register(app: typer.Typer) -> None:
    """Add the ``translate`` command group to ``app``."""
    app.add_typer(translate_app, name="translate")


def _lambdas(text: Optional[str]) -> Optional[tuple[float, ...]]:
    from ..errors import PatchflowError

    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 5:
        raise PatchflowError(f"--lambdas expects five comma-separated weights lambda_0..lambda_4 (GAN, KL, "
                             f"reconstruction, cycle KL, cycle reconstruction), got {text!r}")
    return values


def _model_config(name: str, lambdas: Optional[str], channels: Optional[int], latent_channels: Optional[int],
                  kl: Optional[str], size: Optional[str]) -> Any:
    """The settings of ``--model`` from the options; options of the other model are refused."""
    from ..errors import PatchflowError

    if name not in MODELS:
        raise PatchflowError(f"--model must be one of {', '.join(MODELS)}, got {name!r}")
    given = {"--lambdas": lambdas, "--channels": channels, "--latent-channels": latent_channels, "--kl": kl} \
        if name == "umt" else {"--size": size}
    foreign = [option for option, value in given.items() if value is not None]
    if foreign:
        raise PatchflowError(f"{', '.join(foreign)}: not an option of --model {name}")
    if name == "umt":
        from ..models.umt import UmtConfig

        if (size or "cpu") not in UMT_SIZES:
            raise PatchflowError(f"--size must be one of {', '.join(UMT_SIZES)}, got {size!r}")
        return UmtConfig.paper() if size == "paper" else UmtConfig()
    from ..models.unit import UnitConfig

    weights = _lambdas(lambdas)
    width = 16 if channels is None else channels
    return UnitConfig(channels=width, latent_channels=16 if latent_channels is None else latent_channels,
                      disc_channels=width, kl=kl or "gaussian", **({"lambdas": weights} if weights else {}))


@translate_app.command("train")
@friendly_errors
def train_command(
    a: Path = typer.Option(..., "--a", help="Domain A: a store of recordings (`patchflow dataset import-audio`)."),
    b: Path = typer.Option(..., "--b", help="Domain B: a synth's store (`patchflow dataset build`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (rerun the command to resume)."),
    model_name: str = typer.Option("unit", "--model", help="unit (UNIT on log-mels, seed 003) or umt (the "
                                   "universal music translation network on audio, seed 004)."),
    steps: int = typer.Option(2000, "--steps", help="Iterations in all (each: one step of every optimiser of "
                              "the model)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Mels of each domain per iteration."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam's learning rate of both steps (default 2e-4; "
                                       "1e-3 with --size paper, the UMT authors')."),
    lr_decay: Optional[float] = typer.Option(None, "--lr-decay", help="Multiply the learning rate of the "
                                             "encoders and decoders by this every 1,000 steps (default 1; 0.995 "
                                             "with --size paper)."),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="Clip each gradient element to "
                                              "[-C, C] (default none; 1 with --size paper)."),
    lambdas: Optional[str] = typer.Option(None, "--lambdas", help="UNIT: lambda_0..lambda_4 as five "
                                          "comma-separated weights (GAN, KL, reconstruction, cycle KL, cycle "
                                          "reconstruction; default 1,0.01,10,0.01,10)."),
    channels: Optional[int] = typer.Option(None, "--channels", help="UNIT: width of the first convolution "
                                           "(default 16)."),
    latent_channels: Optional[int] = typer.Option(None, "--latent-channels", help="UNIT: channels of the shared "
                                                  "latent map (default 16)."),
    kl: Optional[str] = typer.Option(None, "--kl", help="UNIT: gaussian (closed-form KL, the default) or avb "
                                     "(implicit posterior, KL estimated by a discriminator per domain)."),
    size: Optional[str] = typer.Option(None, "--size", help="UMT: cpu (small, 8 kHz, the default) or paper "
                                       "(the paper's sizes, 16 kHz: a GPU job)."),
    max_clips: int = typer.Option(512, "--max-clips", help="UMT: clips of each domain read into memory."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="Iterations between checkpoints."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, the batches and the noise."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train a translation model from the recordings of A to the synth sounds of B (rerun to resume)."""
    from ..training.translation import TranslationTrainConfig, train_translation
    from .app import err_console
    from .progress import ConsoleProgress

    model = _model_config(model_name, lambdas, channels, latent_channels, kl, size)
    authors = PAPER_OPTIMISATION if size == "paper" else {}  # the UMT authors' training settings
    config = TranslationTrainConfig(steps=steps, batch_size=batch_size, seed=seed,
                                    checkpoint_every=checkpoint_every, device=device, model=model,
                                    max_clips=max_clips, **{**authors, **{k: v for k, v in (
                                        ("lr", lr), ("lr_decay", lr_decay), ("grad_clip", grad_clip))
                                        if v is not None}})
    summary = train_translation(a, b, out, config, progress=ConsoleProgress(err_console, enabled=progress))
    terms = summary["terms"]
    second = "discriminators" if model_name == "unit" else "domain classifier"
    last = f": loss {terms['loss']:.4f}, {second} {terms.get('disc_loss', terms.get('confusion_loss')):.4f}" \
        if terms else ""
    console.print(f"[bold]{escape(str(out))}[/]: {summary['step']} steps{last}")


@translate_app.command("apply")
@friendly_errors
def apply_command(
    run_dir: Path = typer.Argument(..., help="Run directory written by `patchflow translate train`."),
    sound: Path = typer.Argument(..., help="A sound of domain A (WAV, FLAC, OGG, MP3, ...)."),
    out: Path = typer.Option(Path("translated"), "--out", "-o", help="Folder for the picture and the WAV."),
    n_iter: int = typer.Option(32, "--griffin-lim-iterations", help="UNIT: phase iterations of Griffin-Lim."),
    temperature: float = typer.Option(1.0, "--temperature", help="UMT: temperature of the decoder's sampling "
                                      "(0: the most likely sample each time)."),
    seed: int = typer.Option(0, "--seed", help="UMT: seed of the decoder's sampling."),
) -> None:
    """Translate SOUND into the synth's domain: its log-mel as a PNG (beside the original's), a .npy and a WAV
    (UNIT: the log-mel through Griffin-Lim; UMT: the audio its WaveNet decoder generates, at the model's rate)."""
    import numpy as np

    from ..audio import read_audio_file, write_wav
    from ..data.render import SILENCE_PEAK
    from ..errors import PatchflowError
    from ..runtime.translation import load_translator, mel_to_audio, write_mel_png

    if n_iter < 1:
        raise PatchflowError(f"--griffin-lim-iterations must be >= 1, got {n_iter}")
    if temperature < 0:
        raise PatchflowError(f"--temperature must be >= 0, got {temperature}")
    translator = load_translator(run_dir, temperature=temperature, seed=seed)
    settings = translator.render_settings
    decoded = read_audio_file(sound, settings.sample_rate)
    if not float(np.max(np.abs(decoded.audio), initial=0.0)) >= SILENCE_PEAK:
        raise PatchflowError(f"{sound}: silent (peak below {SILENCE_PEAK:g}); nothing to translate")
    mel, translated, generated = translator.translate_clip(decoded.audio, settings.sample_rate)
    if out.exists() and not out.is_dir():
        raise PatchflowError(f"{out} is a file; --out must be a folder")
    out.mkdir(parents=True, exist_ok=True)
    png = write_mel_png(out / f"{sound.stem}_translated.png",
                        [(f"{sound.stem} (A)", mel), ("translated to B", translated)],
                        title=f"{run_dir.name}, step {translator.step}")
    if generated is None:
        audio, how = mel_to_audio(translated, translator.features, settings.num_samples, n_iter=n_iter), \
            f"Griffin-Lim, {n_iter} iterations"
    else:
        audio, how = generated, f"WaveNet decoder at {translator.model.config.sample_rate} Hz"
    wav = out / f"{sound.stem}_translated.wav"
    write_wav(wav, audio, settings.sample_rate, normalise=True)
    np.save(out / f"{sound.stem}_translated_mel.npy", translated)
    console.print(f"Wrote {png}, {wav} ({how}) and the mel as .npy", highlight=False, markup=False)
