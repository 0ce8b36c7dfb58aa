"""``patchflow macro``: macro-controls from the latent dimensions of a run."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``macro`` to ``app``."""

    @app.command()
    @friendly_errors
    def macro(
        run_dir: Path = typer.Argument(..., help="Run directory of a latent model."),
        dims: list[int] = typer.Option([], "--dims", help="Dimensions to traverse (repeatable; default all)."),
        out: Path = typer.Option(Path("macros"), "--out", "-o", help="Folder for macro.json, figures and WAVs."),
        steps: int = typer.Option(9, "--steps", help="Points along each dimension."),
        span: float = typer.Option(2.5, "--span", help="Traverse from -SPAN to +SPAN."),
        semantic: bool = typer.Option(None, "--semantic/--latent",
                                      help="Traverse the tag-pair dimensions of a flow_dis run (default when "
                                           "available) or the raw latent dimensions."),
        top: int = typer.Option(6, "--top", help="Parameters drawn per dimension."),
        workers: int = typer.Option(None, "--workers", help="Render threads."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs."),
    ) -> None:
        """Traverse latent dimensions (others at 0) through p(v|z), render the paths, and rank the dimensions
        by the audio variance they produce."""
        from ..apps.macro import traverse, write_macros
        from ..data.store import open_store
        from ..runtime import load_run

        run = load_run(run_dir, device=device)
        base = open_store(run.store_path).base_preset if Path(run.store_path).exists() else None
        traversals = traverse(run, dims or None, steps=steps, span=span, semantic=semantic, workers=workers,
                              base_preset=base)
        summary = write_macros(traversals, run, out, top=top)
        for item in summary["ranking"]:
            moving = summary["dimensions"][item["label"]]["moving_parameters"][:3]
            console.print(f"{item['rank']:>3}. {item['label']:<24} audio variance {item['audio_variance']:8.2f} dB²  "
                          + ", ".join(f"{m['name']} ({m['range']:.2f})" for m in moving))
        console.print(f"Wrote {out / 'macro.json'} with figures and audio per dimension")
