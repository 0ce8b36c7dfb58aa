"""``patchflow presets ...``: read preset files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

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
    """Parse preset files and show their presets, tags and problems as a table.

    Exits with status 1 (after the report) when not one preset could be read from the files given.
    """
    files = _files(paths)
    results, failures = read_all(files, synth, show_progress=not as_json and len(files) > PROGRESS_FROM,
                                 parser=parser)
    totals = summarise(results, failures)
    if as_json:
        payload = {"summary": totals, "unreadable": failures}
        if not summary:
            payload["files"] = [r.model_dump(mode="json") for r in results]
        typer.echo(json.dumps(payload, indent=1))
        _require_presets(totals, len(files), 'the reasons are under "unreadable"')
        return
    if summary:
        _print_summary(totals)
        _require_presets(totals, len(files))
        return
    if totals["presets"]:
        table = Table(title="Presets")
        for col in ("source", "synth", "name", "tags", "flags"):
            table.add_column(col, overflow="fold")
        for result in results:
            for preset in result.presets:
                tags = ", ".join(f"{k}={v}" for k, v in preset.tags.items() if v not in (None, "", []))
                table.add_row(*(Text(text) for text in (str(preset.source or result.path), preset.synth,
                                                        preset.name, tags, "; ".join(preset.flags))))
        console.print(table)
    if values:
        for result in results:
            for preset in result.presets:
                console.print(f"[bold]{escape(preset.name)}[/] ({escape(str(preset.source))})", emoji=False,
                              highlight=False)
                console.print(escape(", ".join(f"{k}={v:g}" for k, v in preset.values.items())), soft_wrap=True,
                              emoji=False)
    _print_problems(results)
    _print_failures(failures)
    console.print(f"{totals['files_read']} files read, {totals['files_unreadable']} unreadable, "
                  f"{totals['presets']} presets, {totals['distinct']} distinct, "
                  f"{totals['problems']} problems reported")
    _require_presets(totals, len(files))


def _require_presets(totals: dict, file_count: int, reasons: str = "the reasons are above") -> None:
    """Fail (exit status 1, one line) when not one preset was read: a script must not take that for success."""
    from ..errors import PatchflowError

    if totals["presets"] == 0:
        files = "the file given" if file_count == 1 else f"any of the {file_count} files given"
        raise PatchflowError(f"no preset could be read from {files} ({reasons})")


@presets_app.command("convert")
@friendly_errors
def convert(
    paths: list[Path] = typer.Argument(..., help="Preset files or folders (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="File to write; its suffix picks the format (.syx, .preset.json...)."),
    synth: str = typer.Option(None, help="Only read presets of this synth (needed when files mix synths)."),
    parser: str = typer.Option(None, "--parser", help=PARSER_HELP),
) -> None:
    """Read presets and write them all to one file in another format (e.g. a DX7 bank to JSON and back).

    The suffix of OUT must be one a writer of the presets' synth writes (``patchflow synths`` lists the writers);
    without a suffix, the synth's own writer decides (Diva writes a folder of ``.h2p`` files).
    """
    from ..errors import PatchflowError
    from ..preset_files import SEVERAL_PARSERS

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
    written = write_converted(presets, out)
    console.print(f"Wrote {len(presets)} presets to {escape(str(written))}", highlight=False, emoji=False)


def write_converted(presets, out: Path) -> Path:
    """Write presets of one synth to ``out`` with the writer its suffix names.

    Raises:
        PatchflowError: No writer of the synth writes files with the suffix of ``out`` (the message lists the
            suffixes they write), or the writer failed (unwritable folder, disk full, a preset it cannot encode):
            one line, and nothing half-written is left by the built-in writers.
        PluginError: No writer is installed for the synth.
    """
    from ..errors import PatchflowError, PluginError
    from ..preset_files import find_writer
    from ..registries import preset_writers

    synth_id = presets[0].synth
    writers = preset_writers(synth_id)
    if not writers:
        raise PluginError(f"no preset writer is installed for synth {synth_id!r}")
    suffix = out.suffix.lower()
    known = [s for w in writers for s in w.suffixes]
    if suffix and suffix not in known:
        offered = ", ".join(f"{' '.join(w.suffixes) or '(none)'} ({w.name})" for w in writers)
        example = out.with_suffix(known[0]).name if known else ""
        raise PatchflowError(f"--out {out}: no writer of synth {synth_id!r} writes {suffix} files; they write "
                             f"{offered}" + (f" (e.g. --out {example})" if example else ""))
    writer = find_writer(synth_id, out)
    try:
        return writer.write(presets, out)
    except PatchflowError:
        raise
    except OSError as exc:
        raise PatchflowError(f"{out}: cannot write file: {exc.strerror or exc}") from None
    except Exception as exc:  # a writer of another plugin: one line naming it, not a traceback
        lines = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        raise PatchflowError(f"{out}: the preset writer {writer.name} failed: {reason}") from None


def _print_problems(results, kinds: set[str] | None = None) -> None:
    for result in results:
        for problem in result.problems:
            if kinds is not None and problem.kind not in kinds:
                continue
            where = problem.path if problem.index is None else f"{problem.path}#{problem.index}"
            err_console.print(f"[yellow]{escape(problem.kind)}[/] "
                              f"{escape(f'{where}: {problem.message} -> {problem.action}')}",
                              highlight=False, soft_wrap=True, emoji=False)


def _print_failures(failures) -> None:
    for failure in failures:
        err_console.print(f"[red]unreadable[/] {escape(failure['path'] + ': ' + failure['reason'])}",
                          highlight=False, soft_wrap=True, emoji=False)


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
        console.print(f"  {count} x {escape(reason)}", highlight=False, soft_wrap=True, emoji=False)
    console.print(f"presets: {totals['presets']} ({totals['distinct']} distinct, "
                  f"{totals['flagged_presets']} marked by the parser)")
    console.print(f"problems reported: {totals['problems']}")
    for kind, count in totals["problems_by_kind"].items():
        console.print(f"  {count} x {escape(kind)}", highlight=False)
