"""``patchflow models``: the models that can be trained (built-in and from plugins)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from .app import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``models`` to ``app``."""

    @app.command()
    @friendly_errors
    def models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List the available models with a one-line description each."""
        from ..models.registry import available_models, describe

        rows = [{"name": name, "description": describe(factory)} for name, factory in available_models().items()]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="Models")
        table.add_column("name")
        table.add_column("description")
        for row in rows:
            table.add_row(row["name"], row["description"])
        console.print(table)
