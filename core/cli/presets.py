"""``patchflow presets ...``: read preset files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from .app import console, err_console, friendly_errors

presets_app = typer.Typer(help="Read and inspect preset files.", no_args_is_help=True)

#: Folders with more files than this get a progress bar.
PROGRESS_FROM = 50
PARSER_HELP = ("Read with the preset parser of this name only (see `patchflow synths`); for files that several "
               "parsers recognise.")


def register(app: typer.Typer) -> None:
    """Add the ``presets`` group to ``app``."""
    app.add_typer(presets_app, name="presets")


@presets_app.command("inspect")
@friendly_errors
def inspect(
    paths: list[Path] = typer.Argument(..., help="Preset files or folders (searched recursively)."),
    synth: str = typer.Option(None, help="Only use parsers of this synth."),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print every preset and problem as JSON."),
    values: bool = typer.Option(False, "--values", help="Show every parameter value of each preset."),
    summary: bool = typer.Option(False, "--summary",
                                 help="Print only totals: files read, files skipped and why, distinct presets, "
                                      "problems by kind."),
) -> None:
    """Parse preset files and show their presets, tags and problems as a table."""
    files = _files(paths)
    results, failures = read_all(files, synth, show_progress=not as_json and len(files) > PROGRESS_FROM,
                                 parser=parser)
    totals = summarise(results, failures)
    if as_json:
        payload = {"summary": totals, "unreadable": failures}
        if not summary:
            payload["files"] = [r.model_dump(mode="json") for r in results]
        typer.echo(json.dumps(payload, indent=1))
        return
    if summary:
        _print_summary(totals)
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
    _print_problems(results)
    _print_failures(failures)
    console.print(f"{totals['files_read']} files read, {totals['files_unreadable']} unreadable, "
                  f"{totals['presets']} presets, {totals['distinct']} distinct, "
                  f"{totals['problems']} problems reported")


@presets_app.command("convert")
@friendly_errors
def convert(
    paths: list[Path] = typer.Argument(..., help="Preset files or folders (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="File to write; its suffix picks the format (.syx, .preset.json...)."),
    synth: str = typer.Option(None, help="Only read presets of this synth (needed when files mix synths)."),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
) -> None:
    """Read presets and write them all to one file in another format (e.g. a DX7 bank to JSON and back)."""
    from ..errors import PatchflowError
    from ..preset_files import SEVERAL_PARSERS, write_presets

    results, failures = read_all(_files(paths), synth, parser=parser)
    _print_problems(results, kinds={SEVERAL_PARSERS})
    _print_failures(failures)
    presets = [preset for result in results for preset in result.presets]
    if not presets:
        raise PatchflowError("no preset could be read")
    synths = sorted({p.synth for p in presets})
    if len(synths) > 1:
        raise PatchflowError(f"the files hold presets of several synths ({', '.join(synths)}); choose one with "
                             "--synth")
    written = write_presets(presets, out)
    console.print(f"Wrote {len(presets)} presets to {written}")


def _print_problems(results, kinds: set[str] | None = None) -> None:
    for result in results:
        for problem in result.problems:
            if kinds is not None and problem.kind not in kinds:
                continue
            where = problem.path if problem.index is None else f"{problem.path}#{problem.index}"
            err_console.print(f"[yellow]{problem.kind}[/] {where}: {problem.message} -> {problem.action}",
                              highlight=False, soft_wrap=True)


def _print_failures(failures) -> None:
    for failure in failures:
        err_console.print(f"[red]unreadable[/] {failure['path']}: {failure['reason']}", highlight=False,
                          soft_wrap=True)


def _files(paths: list[Path]) -> list[Path]:
    from ..preset_files import iter_preset_files

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}", param_hint="PATHS")
    files = iter_preset_files(paths)
    if not files:
        raise typer.BadParameter("no files found", param_hint="PATHS")
    return files


def read_all(files: list[Path], synth: str | None = None, show_progress: bool = False, parser: str | None = None):
    """Parse every file; return the results and, for files nothing could be read from, ``{"path", "reason"}``.

    Args:
        files: Preset files.
        synth: Only use parsers of this synth.
        show_progress: Show a progress bar on the console.
        parser: Read every file with the parser of this name (files it does not recognise are unreadable).

    Raises:
        PluginError: No parser named ``parser`` is installed.
    """
    from ..errors import PresetFormatError
    from ..preset_files import parse_preset_file

    results, failures = [], []
    with Progress(console=err_console, disable=not show_progress, transient=True) as progress:
        task = progress.add_task("reading presets", total=len(files))
        for path in files:
            try:
                results.append(parse_preset_file(path, synth, parser=parser))
            except PresetFormatError as exc:
                failures.append({"path": str(path), "reason": _reason(exc, path)})
            progress.advance(task)
    return results, failures


def _reason(exc: Exception, path: Path) -> str:
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def summarise(results, failures) -> dict:
    """Totals over parse results: files read / unreadable (with reasons), presets, distinct presets, problems.

    Presets are distinct when their synth and parameter values differ (names are ignored).
    """
    distinct = {(p.synth, tuple(sorted(p.values.items()))) for r in results for p in r.presets}
    reasons = Counter(f["reason"] for f in failures)
    return {
        "files_read": sum(1 for r in results if r.presets),
        "files_unreadable": len(failures) + sum(1 for r in results if not r.presets),
        "unreadable_reasons": dict(reasons.most_common()),
        "presets": sum(len(r.presets) for r in results),
        "distinct": len(distinct),
        "flagged_presets": sum(1 for r in results for p in r.presets if p.flags),
        "problems": sum(len(r.problems) for r in results),
        "problems_by_kind": dict(Counter(p.kind for r in results for p in r.problems).most_common()),
    }


def _print_summary(totals: dict) -> None:
    console.print(f"files read: {totals['files_read']}")
    console.print(f"files skipped: {totals['files_unreadable']}")
    for reason, count in totals["unreadable_reasons"].items():
        console.print(f"  {count} x {reason}", highlight=False, soft_wrap=True)
    console.print(f"presets: {totals['presets']} ({totals['distinct']} distinct, "
                  f"{totals['flagged_presets']} marked by the parser)")
    console.print(f"problems reported: {totals['problems']}")
    for kind, count in totals["problems_by_kind"].items():
        console.print(f"  {count} x {kind}")
