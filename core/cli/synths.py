"""``patchflow synths`` and ``patchflow plugins``: what is installed."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from .app import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""

    @app.command()
    @friendly_errors
    def synths(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List the installed synth adapters and their parameter counts."""
        from ..parameters import ParameterKind
        from ..plugins import preset_parsers, preset_writers, synth_classes

        rows = []
        for synth_id, cls in synth_classes().items():
            table = cls().parameters
            kinds = [spec.kind for spec in table]
            rows.append({
                "id": synth_id,
                "name": cls.display_name or synth_id,
                "parameters": len(table),
                "continuous": kinds.count(ParameterKind.CONTINUOUS),
                "categorical": kinds.count(ParameterKind.CATEGORICAL) + kinds.count(ParameterKind.BOOLEAN),
                "module": cls.__module__,
                "parsers": [p.name for p in preset_parsers(synth_id)],
                "writers": [w.name for w in preset_writers(synth_id)],
            })
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            console.print("No synth adapters installed. Try `pip install ./adapters/dexed`.")
            return
        out = Table(title="Installed synths")
        for col in ("id", "name", "parameters", "continuous", "categorical", "preset formats"):
            out.add_column(col)
        for r in rows:
            out.add_row(r["id"], r["name"], str(r["parameters"]), str(r["continuous"]), str(r["categorical"]),
                        ", ".join(r["parsers"]) or "-")
        console.print(out)

    @app.command()
    @friendly_errors
    def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List the loaded plugins (entry points of the ``patchflow`` group) and load errors."""
        from dataclasses import asdict

        from ..plugins import installed_plugins

        found = installed_plugins()
        if as_json:
            typer.echo(json.dumps([asdict(p) for p in found], indent=2))
            return
        out = Table(title="Plugins")
        for col in ("name", "module", "distribution", "version", "status"):
            out.add_column(col)
        for p in found:
            out.add_row(p.name, p.module, p.distribution, p.version, p.error or "ok")
        console.print(out)
