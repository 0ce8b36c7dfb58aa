"""``patchflow explore`` and ``patchflow interpolate``: audio-based preset exploration in the latent space."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``explore`` and ``interpolate`` to ``app``."""

    @app.command()
    @friendly_errors
    def explore(
        run_dir: Path = typer.Argument(..., help="Run directory of a latent model."),
        preset_file: Path = typer.Argument(..., help="Preset file of the run's synth (a bank: see --index)."),
        index: int = typer.Option(0, "--index", "-i", help="Which preset of a multi-preset file."),
        radius: float = typer.Option(0.5, "--radius", help="Std of the latent neighbourhood."),
        count: int = typer.Option(16, "--count", help="Number of neighbours."),
        out: Path = typer.Option(Path("exploration"), "--out", "-o",
                                 help="Folder for the neighbours, their audio and explore.json."),
        seed: int = typer.Option(0, "--seed", help="Seed of the sampling."),
        workers: int = typer.Option(None, "--workers", help="Render threads."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs."),
    ) -> None:
        """Write presets that sound near a preset: samples of its latent neighbourhood, with their audio and
        audio-vs-parameter distances."""
        from ..apps.common import load_preset
        from ..apps.explore import explore as run_explore
        from ..apps.explore import write_exploration
        from ..runtime import load_run

        run = load_run(run_dir, device=device)
        preset = load_preset(preset_file, run.synth_id, index)
        summary = write_exploration(run_explore(run, preset, radius=radius, count=count, seed=seed,
                                                workers=workers), run, out)
        dropped = summary["duplicates_dropped"]
        if dropped:
            console.print(f"{dropped} of the {count} samples decoded to a preset already found (or to the preset "
                          f"itself) and were dropped; a larger --radius gives more distinct neighbours")
        console.print(f"{len(summary['neighbours'])} distinct neighbours of {preset.name!r} "
                      f"(encoded by {summary['encoded_by']}): mean parameter "
                      f"distance {summary['mean_param_distance']:.3f}, mean audio SC "
                      f"{summary['mean_audio_distance']:.3f} (random direction at the same parameter distance: "
                      f"{summary['mean_control_audio_distance']:.3f}); wrote {', '.join(summary['files'])} in {out}")

    @app.command()
    @friendly_errors
    def interpolate(
        run_dir: Path = typer.Argument(..., help="Run directory of a latent model."),
        a: str = typer.Argument(..., help="First preset: FILE or FILE#INDEX."),
        b: str = typer.Argument(..., help="Second preset: FILE or FILE#INDEX."),
        steps: int = typer.Option(8, "--steps", help="Presets along the path, ends included."),
        out: Path = typer.Option(Path("interpolation"), "--out", "-o",
                                 help="Folder for the path's presets and audio."),
        workers: int = typer.Option(None, "--workers", help="Render threads."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs."),
    ) -> None:
        """Interpolate between two presets through the latent space (and, for comparison, straight in
        parameter space)."""
        from ..apps.common import load_preset
        from ..apps.explore import interpolate as run_interpolate
        from ..apps.explore import write_interpolation
        from ..runtime import load_run

        run = load_run(run_dir, device=device)
        first, second = load_preset(a, run.synth_id), load_preset(b, run.synth_id)
        summary = write_interpolation(run_interpolate(run, first, second, steps=steps, workers=workers), run, out)
        console.print(f"{first.name!r} -> {second.name!r} in {steps} steps: largest step SC "
                      f"{summary['latent_max_step_sc']:.3f} through the latent space, "
                      f"{summary['linear_max_step_sc']:.3f} straight in parameter space; wrote {out}")
