"""``patchflow models``: the models that can be trained (built-in and from plugins, by ``patchflow train``) and
the translation models (by ``patchflow translate train --model``)."""

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
        """List the available models with a one-line description each, and the command that trains them."""
        from ..models.registry import available_models, describe
        from ..training.translation import KINDS

        rows = [{"name": name, "description": describe(factory), "trained_by": "patchflow train"}
                for name, factory in available_models().items()]
        rows += [{"name": name, "description": describe(model_class),
                  "trained_by": f"patchflow translate train --model {name}"}
                 for name, (_, model_class) in KINDS.items()]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="Models")
        table.add_column("name")
        table.add_column("description")
        table.add_column("trained by")
        for row in rows:
            table.add_row(row["name"], row["description"], row["trained_by"])
        console.print(table)
