"""Diva presets as patchflow :class:`~patchflow.Preset` objects: the ``.h2p`` reader and writer plugins.

A preset read from a ``.h2p`` file carries every Diva parameter of :mod:`.parameters` in ``values``, the tag pairs
and the meta fields (``Character``, ``Categories``, ``Features`` as lists) in ``tags``, and the whole original file
in ``extra["h2p"]`` (Latin-1 text), so writing it back gives the same bytes and keeps keys patchflow does not
model. Values changed in ``values`` are written in place; values that were out of range in the file are clamped in
``values`` (and flagged) but kept as they were in the file unless changed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from patchflow import ParseProblem, ParseResult, Preset, PresetFormatError, PresetSource

from .h2p import BINARY_COMMENT, ENCODING, H2pDocument, parse_h2p, read_h2p
from .parameters import MOD_SOURCES, by_location, diva_parameter, diva_parameters
from .tags import split_tags, tag_pairs

SYNTH_ID = "diva"
#: ``#AM`` value of Diva presets.
AM_NAME = "Diva"
#: Meta fields whose comma-separated words become tag lists.
LIST_META = ("Categories", "Features", "Character")


def preset_from_document(doc: H2pDocument, name: str, source: PresetSource | None = None,
                         problems: list[ParseProblem] | None = None) -> Preset:
    """A :class:`~patchflow.Preset` holding the Diva parameters, tags and meta of a parsed document.

    Values that are not valid for their parameter (text where a number belongs, an unknown effect module) are
    left out and reported in ``problems``; out-of-range numbers are clamped and flagged.
    """
    values: dict[str, float] = {}
    flags: list[str] = []
    locations = by_location()
    for section, key, raw in doc.fields():
        param = locations.get((section, key))
        if param is None or param.name in values:
            continue
        try:
            native = param.native_from_h2p(raw)
            if not math.isfinite(native):
                raise ValueError(f"{param.name}: {_shown(doc.raw(section, key))} is not a finite number")
        except (ValueError, OverflowError) as exc:  # OverflowError: an integer too large for a float
            if isinstance(exc, OverflowError):
                exc = ValueError(f"{param.name}: {_shown(doc.raw(section, key))} is too large for a float")
            if problems is not None:
                problems.append(ParseProblem(path=str(source.path) if source else "", kind="bad-value",
                                             message=f"[{section}] {key}: {_cut(str(exc))}",
                                             action="parameter left out"))
            continue
        clamped = param.spec.clamp(native)
        if clamped != native:
            flags.append(f"clamped: {param.name} {native:g} -> {clamped:g}")
        values[param.name] = clamped
    tags: dict[str, object] = dict(tag_pairs(split_tags(doc.meta.get("Character"))))
    for field in LIST_META:
        if field in doc.meta:
            tags[field] = split_tags(doc.meta[field])
    extra = {"h2p": doc.to_bytes().decode(ENCODING), "meta": dict(doc.meta)}
    return Preset(synth=SYNTH_ID, name=name, values=values, tags=tags, source=source, extra=extra, flags=flags)


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _shown(text: str | None, limit: int = 24) -> str:
    """A value's text for messages, shortened (a crafted file may hold a value of thousands of digits)."""
    text = "" if text is None else text
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def template_document() -> H2pDocument:
    """A minimal Diva document: the header, every modelled parameter at its default, no binary section."""
    lines = ["#AM=Diva", "#Vers=10001", "#Endian=little", f"#nm={len(MOD_SOURCES)}",
             *(f"#ms={source}" for source in MOD_SOURCES), "#nv=0"]
    section = None
    for param in diva_parameters():
        if param.section != section:
            lines.append(f"#cm={param.section}")
            section = param.section
    text = "\n".join(lines) + "\n\n" + BINARY_COMMENT + "\n// DON'T TOUCH THIS\n\n"
    doc = parse_h2p(text.encode(ENCODING), "<template>", AM_NAME)
    for param in diva_parameters():
        doc.set(param.section, param.key, param.h2p_from_native(param.spec.default))
    return doc


def _is_finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def document_from_preset(preset: Preset) -> H2pDocument:
    """The ``.h2p`` document of a Diva preset: its original file (if it came from one) with changed values.

    Raises:
        UnknownParameterError: A value names no Diva parameter.
        PresetFormatError: ``extra["h2p"]`` is not a readable Diva file, or a value is not a finite number.
    """
    original = preset.extra.get("h2p")
    try:
        doc = parse_h2p(original.encode(ENCODING), str(preset.source or preset.name), AM_NAME) \
            if isinstance(original, str) else template_document()
    except UnicodeEncodeError:
        raise PresetFormatError(f"preset {preset.name!r}: extra['h2p'] is not Latin-1 text") from None
    for name, native in preset.values.items():
        param = diva_parameter(name)
        if not _is_finite(native):
            raise PresetFormatError(f"preset {preset.name!r}: {name} = {native!r} is not a finite number")
        old = doc.get(param.section, param.key)
        if old is not None:
            try:
                if param.spec.clamp(param.native_from_h2p(old)) == param.spec.clamp(native):
                    continue  # unchanged: keep the file's own text, even when it was out of range
            except (ValueError, OverflowError):
                pass
        doc.set(param.section, param.key, param.h2p_from_native(native))
    meta = preset.extra.get("meta")
    if isinstance(meta, dict):
        doc.meta = {str(k): str(v) for k, v in meta.items()}
    for field in LIST_META:
        words = preset.tags.get(field)
        if isinstance(words, list) and words != split_tags(doc.meta.get(field)):
            doc.meta[field] = ", ".join(str(w) for w in words)
    return doc


class DivaH2pParser:
    """Reads u-he Diva ``.h2p`` presets (one preset per file)."""

    name = "diva-h2p"
    synth = SYNTH_ID

    def recognises(self, path: Path, head: bytes) -> bool:
        """Claim ``.h2p`` files and any file whose header names Diva."""
        return path.suffix.lower() == ".h2p" or b"#AM=Diva" in head

    def parse(self, path: Path) -> ParseResult:
        """Read the preset of one file.

        Raises:
            PresetFormatError: The file is not a Diva preset or is truncated (or reading it failed in any other
                way: this parser raises nothing else).
        """
        try:
            return self._parse(Path(path))
        except PresetFormatError:
            raise
        except Exception as exc:  # a crafted file must cost that file only
            lines = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {_cut(lines[0])}" if lines else type(exc).__name__
            raise PresetFormatError(f"cannot read this Diva preset: {reason}", path) from None

    def _parse(self, path: Path) -> ParseResult:
        doc = read_h2p(path)
        if doc.header_value("AM") != AM_NAME:
            raise PresetFormatError(f"this is a {doc.header_value('AM')!r} preset, not {AM_NAME}", path)
        problems: list[ParseProblem] = []
        preset = preset_from_document(doc, Path(path).stem, PresetSource(path=str(path)), problems)
        for problem in problems:
            problem.path = str(path)
        return ParseResult(path=str(path), parser=self.name, presets=[preset], problems=problems)


#: Names Windows reserves for devices, whatever the suffix (``CON.h2p`` cannot be created there).
_RESERVED_NAMES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                             *(f"LPT{i}" for i in range(1, 10))})
#: Longest file name stem written (file systems allow 255 bytes; names are UTF-8).
MAX_STEM = 100


def file_stem(name: str, fallback: str) -> str:
    """A safe, visible file name stem for a preset name: letters, digits, spaces, ``-``, ``_`` and inner dots
    kept, anything else (``/``, ``\\``, ``:``, control characters...) replaced by ``_``; no leading dot or space
    (folder reading skips hidden files), no trailing dot or space, no device name, at most :data:`MAX_STEM`
    characters; ``fallback`` when nothing is left.

    >>> file_stem("..", "preset-0"), file_stem(".hidden", "x"), file_stem("a/b: c", "x")
    ('preset-0', 'hidden', 'a_b_ c')
    """
    stem = "".join(c if c.isalnum() or c in " -_." else "_" for c in name)
    stem = re.sub(r"\.{2,}", ".", stem).strip(" .")
    stem = stem[:MAX_STEM].rstrip(" .")
    if not stem.strip("_"):
        return fallback
    if stem.split(".")[0].upper() in _RESERVED_NAMES:
        stem = f"{stem}_"
    return stem


class DivaH2pWriter:
    """Writes Diva presets as ``.h2p`` files.

    One preset is written to ``path`` itself when it ends in ``.h2p``; several presets are written into the folder
    ``path`` as ``<name>.h2p``, one file per preset (a ``.h2p`` file holds one preset), the names made safe,
    visible file names (:func:`file_stem`) and distinct.
    """

    name = "diva-h2p"
    synth = SYNTH_ID
    suffixes = (".h2p",)

    def write(self, presets: Sequence[Preset], path: Path) -> Path:
        """Write ``presets`` and return the file (or folder) written.

        Every document is made before anything is written; each file is written whole or not at all, and a
        failed write removes the files this call created (and the folder, when it made it).

        Raises:
            PresetFormatError: No presets, a preset that cannot be written (a value that is not a finite number),
                or the files cannot be written (read-only folder, disk full...).
            UnknownParameterError: A value names no Diva parameter.
        """
        path = Path(path)
        presets = list(presets)
        if not presets:
            raise PresetFormatError("no presets to write", path)
        if len(presets) == 1 and path.suffix.lower() == ".h2p":
            document_from_preset(presets[0]).write(path)
            return path
        documents = []
        used: set[str] = set()
        for number, preset in enumerate(presets):
            stem = file_stem(preset.name, f"preset-{number}")
            while stem.lower() in used:  # case-insensitive file systems would merge Pad and PAD
                stem = f"{stem}-{number}"
            used.add(stem.lower())
            documents.append((path / f"{stem}.h2p", document_from_preset(preset)))
        if path.exists() and not path.is_dir():
            raise PresetFormatError("is a file; several presets are written into a folder of .h2p files", path)
        made = not path.exists()
        created: list[Path] = []
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PresetFormatError(f"cannot make the folder: {exc.strerror or exc}", path) from None
        try:
            for target, document in documents:
                new = not target.exists()
                document.write(target)
                if new:
                    created.append(target)
        except PresetFormatError:
            for target in created:
                target.unlink(missing_ok=True)
            if made:
                try:
                    path.rmdir()
                except OSError:
                    pass
            raise
        return path
