"""``patchflow new-adapter``: write the skeleton of an adapter for a new synth."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.markup import escape

from .app import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add the ``new-adapter`` command to ``app``."""

    @app.command("new-adapter")
    @friendly_errors
    def new_adapter(
        name: str = typer.Argument(..., help="Id of the new synth: lowercase letters, digits, underscores."),
        out: Path = typer.Option(None, "--out", "-o", help="Folder to create (default: ./patchflow-NAME)."),
        directory: Path = typer.Option(None, "--dir", "-d", hidden=True, help="Former name of --out."),
        display_name: str = typer.Option(None, "--display-name", help="Human-readable synth name."),
        force: bool = typer.Option(False, "--force", help="Overwrite files that already exist."),
    ) -> None:
        """Write a pip-installable adapter for a new synth: a working numpy synth, a preset format and tests."""
        from ..templates import AdapterNames, write_adapter

        from ..errors import PatchflowError

        if out is not None and directory is not None and out != directory:
            raise PatchflowError("--dir is the former name of --out; give one of them")
        names = AdapterNames.from_synth_id(name, display_name)
        target = out or directory or Path.cwd() / names.dist
        files = write_adapter(name, target, display_name=display_name, overwrite=force)
        for path in files:
            console.print(f"  wrote {path}", highlight=False)
        install = escape(shlex.quote(f"{target}[test]"))  # the template's [test] extra brings pytest
        tests = escape(shlex.quote(str(target)))
        console.print(f"\nAdapter [bold]{names.dist}[/] for synth [bold]{names.synth_id}[/] written to {target}.\n"
                      f"Next: pip install -e {install}  then  patchflow synths  and  pytest {tests}",
                      highlight=False, soft_wrap=True)
