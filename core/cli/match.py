"""``patchflow match``: find the preset that sounds like an audio file."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, err_console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``match`` to ``app``."""

    @app.command()
    @friendly_errors
    def match(
        run_dir: Path = typer.Argument(..., help="Run directory written by `patchflow train`."),
        sound: Path = typer.Argument(..., help="Any audio file librosa reads (WAV, FLAC, OGG, MP3...)."),
        out: Path = typer.Option(Path("match"), "--out", "-o",
                                 help="Folder for the preset, audio, picture and match.json."),
        top: int = typer.Option(1, "--top", help="Also write the K best candidates (a bank and WAVs)."),
        budget: float = typer.Option(2.0, "--budget", help="Seconds of synth-in-the-loop refinement (0: off)."),
        data: Path = typer.Option(None, "--data", help="Training store for retrieval candidates (default: the "
                                  "run's store when it exists)."),
        latent_samples: int = typer.Option(32, "--latent-samples", help="Latent samples around the sound's code."),
        neighbours: int = typer.Option(8, "--neighbours", help="Nearest training presets added as candidates."),
        workers: int = typer.Option(None, "--workers", help="Render threads (default: usable CPUs)."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs."),
        metric: str = typer.Option("sc", "--metric", help="Distance that ranks candidates and drives the search: "
                                   "sc (spectral convergence) or log_mse (log-mel MSE, penalises silence)."),
        seed: int = typer.Option(0, "--seed", help="Seed of sampling and search."),
        as_json: bool = typer.Option(False, "--json", help="Print match.json instead of a summary line."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Infer parameters for SOUND, refine them with the synth in the loop, and write the preset in the
        synth's native format with its rendering."""
        from ..apps.matching import load_target, match_sound, write_match
        from ..data.store import open_store
        from ..errors import PatchflowError
        from ..plugins import get_synth
        from ..runtime import load_run
        from .progress import ConsoleProgress

        if out.exists() and not out.is_dir():
            raise PatchflowError(f"--out {out} is a file; give a folder for the match files")
        run = load_run(run_dir, device=device)
        store_path = data or run.store_path
        store = open_store(store_path) if store_path and Path(store_path).exists() else None
        if store is None:
            err_console.print("[yellow]training store not found: no retrieval candidates[/]")
        base = store.base_preset if store is not None else get_synth(run.synth_id).default_preset()
        target = load_target(sound, run.render_settings.sample_rate, run.render_settings.num_samples)
        result = match_sound(run, target, base_preset=base, store=store, budget_seconds=budget,
                             latent_count=latent_samples, neighbours=neighbours if store is not None else 0,
                             top=max(3, top), workers=workers, seed=seed, metric=metric,
                             progress=ConsoleProgress(err_console, enabled=progress))
        written = write_match(result, run, base, out, top=top)
        if as_json:
            typer.echo(written["files"]["json"].read_text(encoding="utf-8").rstrip())
            return
        console.print(f"Best match SC {written['summary']['sc']:.4f} (level-matched); wrote "
                      + ", ".join(str(p) for p in written["files"].values()))
