"""Reading and writing preset files with the registered parsers and writers.

A file is read by a parser that recognises it (:func:`parse_preset_file`); when several do, the first in the
order of :func:`patchflow.registries.preset_parsers` reads it and the result says which others claimed it, so
the caller can pick one by name (``parser=``, ``--parser`` on the command line). Presets are written by the
writer of their synth whose suffixes match the file (:func:`write_presets`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import PluginError, PresetFormatError
from .formats import PresetParser, PresetWriter
from .plugin_loading import record_problem
from .presets import ParseProblem, ParseResult, Preset
from .registries import ANY_SYNTH, origin, preset_parsers, preset_writers

#: The ``kind`` of the :class:`~patchflow.ParseProblem` saying that several parsers recognise a file.
SEVERAL_PARSERS = "several-parsers"


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(4096)
    except OSError as exc:
        raise PresetFormatError(f"cannot read file: {exc.strerror or exc}", path) from None


def _named(parsers: list[PresetParser], name: str, synth: str | None) -> PresetParser:
    for parser in parsers:
        if parser.name == name:
            return parser
    names = [p.name for p in parsers]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    scope = f" for synth {synth!r}" if synth is not None else ""
    raise PluginError(f"no preset parser named {name!r} is installed{scope}; {hint}"
                      f"installed: {', '.join(names) or 'none'}")


def recognising_parsers(path: str | Path, synth: str | None = None, parser: str | None = None) -> list[PresetParser]:
    """Every parser that recognises ``path``, in the order they are tried (see
    :func:`~patchflow.registries.preset_parsers`).

    Args:
        path: The file.
        synth: Only ask parsers of this synth (and the generic ones).
        parser: Only ask the parser of this name.

    A parser whose ``recognises`` raises is taken not to recognise the file and recorded as a problem of its
    plugin (:func:`~patchflow.plugin_loading.plugin_problems`).

    Raises:
        PresetFormatError: The file cannot be opened.
        PluginError: No parser named ``parser`` is installed (for ``synth``).
    """
    path = Path(path)
    head = _head(path)
    candidates = preset_parsers(synth)
    if parser is not None:
        candidates = [_named(candidates, parser, synth)]
    found = []
    for candidate in candidates:
        try:
            if candidate.recognises(path, head):
                found.append(candidate)
        except Exception as exc:  # recognises must not raise; one parser's bug must not stop every read
            record_problem(origin(candidate) or candidate.name, f"parser {candidate.name}: recognises", exc)
    return found


def _no_parser(path: Path, synth: str | None, parser: str | None) -> PresetFormatError:
    if parser is not None:
        return PresetFormatError(f"the preset parser {parser!r} does not recognise this file", path)
    names = ", ".join(p.name for p in preset_parsers(synth)) or "none installed"
    return PresetFormatError(f"no preset parser recognises this file (tried: {names})", path)


def find_parser(path: str | Path, synth: str | None = None, parser: str | None = None) -> PresetParser:
    """The first parser that recognises ``path`` (the one named ``parser`` if given).

    Raises:
        PresetFormatError: The file cannot be opened or no installed parser recognises it.
        PluginError: No parser named ``parser`` is installed (for ``synth``).
    """
    found = recognising_parsers(path, synth, parser)
    if not found:
        raise _no_parser(Path(path), synth, parser)
    return found[0]


def parse_preset_file(path: str | Path, synth: str | None = None, parser: str | None = None) -> ParseResult:
    """Read one preset file with the first parser that recognises it, or with the parser named ``parser``.

    When several parsers recognise the file, the result carries a problem of kind ``"several-parsers"`` naming
    them and the one used. With ``synth``, only that synth's parsers and the generic ones are asked, and presets
    of other synths in a generic file are left out (and reported).

    A parser that fails in any other way than with :class:`PresetFormatError` (or returns something other than a
    :class:`ParseResult`) is reported as a :class:`PresetFormatError` for this file naming the parser and the
    error, so a caller reading many files records it and goes on.

    Raises:
        PresetFormatError: Nothing could be read from the file, or its parser failed on it.
        PluginError: No parser named ``parser`` is installed (for ``synth``).
    """
    found = recognising_parsers(path, synth, parser)
    if not found:
        raise _no_parser(Path(path), synth, parser)
    chosen = found[0]
    result = _parse_with(chosen, Path(path))
    result.parser = result.parser or chosen.name
    if len(found) > 1:
        claims = ", ".join(f"{p.name} ({_describe(p)})" for p in found)
        result.problems.append(ParseProblem(
            path=str(path), kind=SEVERAL_PARSERS, action=f"read with {chosen.name}",
            message=f"{len(found)} parsers recognise this file: {claims}; choose one by name with --parser NAME "
                    f"(parser=NAME in Python)"))
    if synth is not None and chosen.synth == ANY_SYNTH:
        others = [p for p in result.presets if p.synth != synth]
        if others:
            result.presets = [p for p in result.presets if p.synth == synth]
            result.problems.append(ParseProblem(
                path=str(path), kind="other-synth", action="skipped",
                message=f"{len(others)} preset(s) of other synths ({', '.join(sorted({p.synth for p in others}))})"))
            if not result.presets:
                raise PresetFormatError(f"no preset of synth {synth!r} in this file", path)
    return result


def _parse_with(parser: PresetParser, path: Path) -> ParseResult:
    """``parser.parse(path)``, with any failure of the parser turned into a :class:`PresetFormatError` for the file.

    A parser is asked to raise only :class:`PresetFormatError`; one that raises anything else (a bug, or a library
    error on a crafted file: ``OverflowError``, ``ValueError: Exceeds the limit``, ``RecursionError``) or returns
    something that is not a :class:`~patchflow.ParseResult` fails for this file only, and the message names the
    parser (and its plugin), the file and the first line of the error.
    """
    try:
        result = parser.parse(path)
    except PresetFormatError:
        raise
    except Exception as exc:  # one parser's bug, or one crafted file, must not stop a whole corpus
        raise PresetFormatError(f"the preset parser {parser.name} ({_describe(parser)}) failed on this file: "
                                f"{_one_line(exc)}", path) from None
    if not isinstance(result, ParseResult):
        raise PresetFormatError(f"the preset parser {parser.name} ({_describe(parser)}) returned "
                                f"{type(result).__name__}, not a ParseResult", path)
    return result


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, cut to 200 characters."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _describe(parser: PresetParser) -> str:
    synth = "any synth" if parser.synth == ANY_SYNTH else f"synth {parser.synth}"
    plugin = origin(parser)
    return f"{synth}, plugin {plugin}" if plugin else synth


def iter_preset_files(paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Expand files and folders (recursively, sorted, hidden files skipped) into a list of files.

    Files under a folder of ``exclude`` (a store being written inside its own presets folder) are left out.
    """
    skip = [Path(e).expanduser().resolve() for e in exclude]
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        else:
            files.append(p)
    if skip:
        files = [f for f in files if not any(f.resolve().is_relative_to(s) for s in skip)]
    return files


def find_writer(synth: str, path: str | Path | None = None) -> PresetWriter:
    """A writer for ``synth``, preferring one whose suffixes match ``path``.

    Raises:
        PluginError: No writer is registered for this synth.
    """
    writers = preset_writers(synth)
    if path is not None:
        suffix = Path(path).suffix.lower()
        for writer in writers:
            if suffix in writer.suffixes:
                return writer
    if writers:  # the synth's own format before the generic ones
        return writers[0]
    raise PluginError(f"no preset writer is installed for synth {synth!r}")


def write_presets(presets: Sequence[Preset], path: str | Path) -> Path:
    """Write presets of one synth in its native format (the writer is chosen by the file suffix)."""
    if not presets:
        raise ValueError("no presets to write")
    synth_ids = {p.synth for p in presets}
    if len(synth_ids) != 1:
        raise ValueError(f"presets of several synths cannot share a file: {sorted(synth_ids)}")
    return find_writer(presets[0].synth, path).write(presets, Path(path))
