"""``patchflow translate``: learn to translate recordings' log-mels into a synth's (UNIT, no paired data), and
apply a trained translation to a sound."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .app import console, friendly_errors

translate_app = typer.Typer(help="Translate recordings' spectrograms into a synth's domain (UNIT, unpaired).",
                            no_args_is_help=True)


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


@translate_app.command("train")
@friendly_errors
def train_command(
    a: Path = typer.Option(..., "--a", help="Domain A: a store of recordings (`patchflow dataset import-audio`)."),
    b: Path = typer.Option(..., "--b", help="Domain B: a synth's store (`patchflow dataset build`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (rerun the command to resume)."),
    steps: int = typer.Option(2000, "--steps", help="Iterations in all (one generator and one discriminator "
                              "step each)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Mels of each domain per iteration."),
    lr: float = typer.Option(2e-4, "--lr", help="Adam's learning rate of both steps."),
    lambdas: Optional[str] = typer.Option(None, "--lambdas", help="lambda_0..lambda_4 as five comma-separated "
                                          "weights (GAN, KL, reconstruction, cycle KL, cycle reconstruction; "
                                          "default 1,0.01,10,0.01,10)."),
    channels: int = typer.Option(16, "--channels", help="Width of the first convolution."),
    latent_channels: int = typer.Option(16, "--latent-channels", help="Channels of the shared latent map."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="Iterations between checkpoints."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, the batches and the noise."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train a UNIT translation model from the recordings of A to the synth sounds of B (rerun to resume)."""
    from ..models.unit import UnitConfig
    from ..training.translation import TranslationTrainConfig, train_translation
    from .app import err_console
    from .progress import ConsoleProgress

    weights = _lambdas(lambdas)
    model = UnitConfig(channels=channels, latent_channels=latent_channels, disc_channels=channels,
                       **({"lambdas": weights} if weights else {}))
    config = TranslationTrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                    checkpoint_every=checkpoint_every, device=device, model=model)
    summary = train_translation(a, b, out, config, progress=ConsoleProgress(err_console, enabled=progress))
    terms = summary["terms"]
    last = f": loss {terms['loss']:.4f}, discriminators {terms['disc_loss']:.4f}" if terms else ""
    console.print(f"[bold]{escape(str(out))}[/]: {summary['step']} steps{last}")


@translate_app.command("apply")
@friendly_errors
def apply_command(
    run_dir: Path = typer.Argument(..., help="Run directory written by `patchflow translate train`."),
    sound: Path = typer.Argument(..., help="A sound of domain A (WAV, FLAC, OGG, MP3, ...)."),
    out: Path = typer.Option(Path("translated"), "--out", "-o", help="Folder for the picture and the WAV."),
    n_iter: int = typer.Option(32, "--griffin-lim-iterations", help="Phase iterations of Griffin-Lim."),
) -> None:
    """Translate SOUND into the synth's domain: its log-mel as a PNG (beside the original's) and, through
    Griffin-Lim, as a WAV."""
    import numpy as np

    from ..audio import read_audio_file, write_wav
    from ..data.render import SILENCE_PEAK
    from ..errors import PatchflowError
    from ..runtime.translation import load_translator, mel_to_audio, write_mel_png

    if n_iter < 1:
        raise PatchflowError(f"--griffin-lim-iterations must be >= 1, got {n_iter}")
    translator = load_translator(run_dir)
    settings = translator.render_settings
    decoded = read_audio_file(sound, settings.sample_rate)
    if not float(np.max(np.abs(decoded.audio), initial=0.0)) >= SILENCE_PEAK:
        raise PatchflowError(f"{sound}: silent (peak below {SILENCE_PEAK:g}); nothing to translate")
    mel, translated = translator.translate_audio(decoded.audio, settings.sample_rate)
    if out.exists() and not out.is_dir():
        raise PatchflowError(f"{out} is a file; --out must be a folder")
    out.mkdir(parents=True, exist_ok=True)
    png = write_mel_png(out / f"{sound.stem}_translated.png",
                        [(f"{sound.stem} (A)", mel), ("translated to B", translated)],
                        title=f"{run_dir.name}, step {translator.step}")
    audio = mel_to_audio(translated, translator.features, settings.num_samples, n_iter=n_iter)
    wav = out / f"{sound.stem}_translated.wav"
    write_wav(wav, audio, settings.sample_rate, normalise=True)
    np.save(out / f"{sound.stem}_translated_mel.npy", translated)
    console.print(f"Wrote {png}, {wav} (Griffin-Lim, {n_iter} iterations) and the mel as .npy",
                  highlight=False, markup=False)
