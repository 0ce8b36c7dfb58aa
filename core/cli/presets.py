"""``patchflow presets ...``: read preset files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .app import console, err_console, friendly_errors

presets_app = typer.Typer(help="Read and inspect preset files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``presets`` group to ``app``."""
    app.add_typer(presets_app, name="presets")


@presets_app.command("inspect")
@friendly_errors
def inspect(
    paths: list[Path] = typer.Argument(..., help="Preset files or folders (searched recursively)."),
    synth: str = typer.Option(None, help="Only use parsers of this synth."),
    as_json: bool = typer.Option(False, "--json", help="Print every preset and problem as JSON."),
    values: bool = typer.Option(False, "--values", help="Show every parameter value of each preset."),
) -> None:
    """Parse preset files and show their presets, tags and problems as a table."""
    from ..errors import PresetFormatError
    from ..plugins import iter_preset_files, parse_preset_file

    files = iter_preset_files(paths)
    if not files:
        raise typer.BadParameter("no files found", param_hint="PATHS")
    results, failures = [], []
    for path in files:
        try:
            results.append(parse_preset_file(path, synth))
        except PresetFormatError as exc:
            failures.append({"path": str(path), "error": str(exc)})
    if as_json:
        payload = {
            "files": [r.model_dump(mode="json") for r in results],
            "unreadable": failures,
            "summary": _summary(results, failures),
        }
        typer.echo(json.dumps(payload, indent=1))
        return
    table = Table(title="Presets")
    for col in ("source", "synth", "name", "tags", "flags"):
        table.add_column(col, overflow="fold")
    for result in results:
        for preset in result.presets:
            tags = ", ".join(f"{k}={v}" for k, v in preset.tags.items() if v not in (None, "", []))
            table.add_row(str(preset.source or result.path), preset.synth, preset.name, tags,
                          "; ".join(preset.flags))
    console.print(table)
    if values:
        for result in results:
            for preset in result.presets:
                console.print(f"[bold]{preset.name}[/] ({preset.source})")
                console.print(", ".join(f"{k}={v:g}" for k, v in preset.values.items()), soft_wrap=True)
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        where = problem.path if problem.index is None else f"{problem.path}#{problem.index}"
        err_console.print(f"[yellow]{problem.kind}[/] {where}: {problem.message} -> {problem.action}",
                          highlight=False, soft_wrap=True)
    for failure in failures:
        err_console.print(f"[red]unreadable[/] {failure['error']}", highlight=False, soft_wrap=True)
    s = _summary(results, failures)
    console.print(f"{s['files_read']} files read, {s['files_unreadable']} unreadable, {s['presets']} presets, "
                  f"{s['distinct']} distinct, {s['problems']} problems reported")


def _summary(results, failures) -> dict:
    distinct = {(p.synth, tuple(sorted(p.values.items()))) for r in results for p in r.presets}
    return {
        "files_read": sum(1 for r in results if r.presets),
        "files_unreadable": len(failures) + sum(1 for r in results if not r.presets),
        "presets": sum(len(r.presets) for r in results),
        "distinct": len(distinct),
        "problems": sum(len(r.problems) for r in results),
    }
