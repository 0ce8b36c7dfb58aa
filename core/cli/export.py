"""``patchflow export``: the trained model as self-contained files for real-time use."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""

    @app.command()
    @friendly_errors
    def export(
        run_dir: Path = typer.Argument(..., help="Run directory written by `patchflow train`."),
        fmt: str = typer.Option("torchscript", "--format", help="torchscript (no extra dependency) or onnx "
                                "(needs the `export` extra)."),
        batch: int = typer.Option(1, "--batch", help="Batch size the graphs are traced with (1: one query at a "
                                  "time)."),
        out: Path = typer.Option(Path("export"), "--out", "-o", help="Folder for the exported files."),
    ) -> None:
        """Export mel-features -> parameters (and latent -> parameters) graphs loadable without patchflow."""
        from ..apps.export import export_run
        from ..runtime import load_run

        run = load_run(run_dir, device="cpu")
        files = export_run(run, out, fmt, batch)
        console.print("Wrote " + ", ".join(str(p) for p in files.values()))
