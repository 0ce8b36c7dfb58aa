"""Reading and writing u-he ``.h2p`` preset files (the text format of Diva and its siblings).

A ``.h2p`` file has up to four parts, in this order:

1. an optional ``/*@Meta ... */`` block of ``Key:`` lines each followed by a quoted ``'value'`` line
   (Bank, Author, Description, Usage, Categories, Features, Character...);
2. a header of ``#AM=Diva``, ``#Vers``, ``#Endian``, ``#nm``, ``#ms`` (modulation sources), ``#nv``, ``#mv`` lines;
3. sections, each opened by ``#cm=NAME`` and holding ``Key=value`` lines (numbers or quoted strings; a section
   name may occur twice);
4. comments, then ``$$$$<n>`` and a compressed binary tail that is kept byte for byte.

Files are Latin-1. :class:`H2pDocument` keeps every line it read, so writing an unchanged document gives back the
original bytes, and keys it does not know survive a round trip.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from patchflow import PresetFormatError

ENCODING = "latin-1"
BINARY_COMMENT = "// Section for ugly compressed binary Data"
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_TAIL_LINE = re.compile(r"\$\$\$\$(\d+)")
_META_KEY = re.compile(r"([A-Za-z][A-Za-z0-9 _-]*):")

H2pValue = float | int | str


def parse_value(text: str) -> H2pValue:
    """The Python value of a ``Key=value`` right-hand side: ``int``, ``float``, unquoted ``str`` or raw text.

    An integer of more digits than Python converts (4300) is read as a float, infinite (its text is kept as it
    is in the document).
    """
    if _NUMBER.fullmatch(text):
        if any(c in text for c in ".eE"):
            return float(text)
        try:
            return int(text)
        except ValueError:  # Python's limit on the digits of an integer
            return float(text)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    return text


def format_value(value: H2pValue) -> str:
    """Text for a value the way u-he writes it (two decimals for floats, more only when needed)."""
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value))
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite value {value!r}")
    text = f"{value:.2f}"
    if float(text) != value:
        text = f"{value:.6f}".rstrip("0")
    return text


@dataclass
class _Line:
    """One line of the header/sections part. ``kind`` is raw, header, section or field."""

    kind: str
    text: str = ""
    key: str = ""
    section: int = -1


@dataclass
class H2pDocument:
    """A parsed ``.h2p`` file.

    Attributes:
        meta: The ``/*@Meta`` fields in file order (``{"Author": "...", "Character": "Dark, Moving"}``).
        lines: Every line of the header and sections, as read.
        tail: The binary data after the ``$$$$<n>`` line, byte for byte (``None`` when the file has none).
        path: The file it was read from, for messages.
    """

    meta: dict[str, str] = field(default_factory=dict)
    lines: list[_Line] = field(default_factory=list)
    tail: bytes | None = None
    path: str | None = None
    _meta_raw: str = ""
    _meta_read: dict[str, str] = field(default_factory=dict)
    _newline: str = "\n"
    _index: dict[tuple[str, str], _Line] | None = field(default=None, repr=False)
    _index_size: int = -1

    # ------------------------------------------------------------------------------------------------ queries
    @property
    def header(self) -> list[tuple[str, str]]:
        """The ``#key=value`` header lines before the first section, in order (keys repeat: ``ms``, ``mv``)."""
        return [(line.key, line.text) for line in self.lines if line.kind == "header"]

    def header_value(self, key: str) -> str | None:
        """The first header value for ``key`` (``"AM"`` -> ``"Diva"``), or ``None``."""
        return next((text for k, text in self.header if k == key), None)

    @property
    def modulation_sources(self) -> list[str]:
        """The ``#ms`` list: names of the modulation sources, indexed as the ``...Src`` values."""
        return [text for key, text in self.header if key == "ms"]

    @property
    def section_names(self) -> list[str]:
        """Section names in file order (a name may repeat)."""
        return [line.text for line in self.lines if line.kind == "section"]

    def fields(self) -> Iterator[tuple[str, str, H2pValue]]:
        """Every ``(section, key, value)`` in file order."""
        names = self.section_names
        for line in self.lines:
            if line.kind == "field":
                yield names[line.section], line.key, parse_value(line.text)

    def _find(self, section: str, key: str) -> _Line | None:
        if self._index is None or self._index_size != len(self.lines):
            names = self.section_names
            index: dict[tuple[str, str], _Line] = {}
            for line in self.lines:
                if line.kind == "field":
                    index.setdefault((names[line.section], line.key), line)
            self._index, self._index_size = index, len(self.lines)
        return self._index.get((section, key))

    def get(self, section: str, key: str, default: H2pValue | None = None) -> H2pValue | None:
        """The value of ``key`` in ``section`` (first occurrence), or ``default``."""
        line = self._find(section, key)
        return default if line is None else parse_value(line.text)

    def raw(self, section: str, key: str) -> str | None:
        """The value text exactly as in the file, or ``None``."""
        line = self._find(section, key)
        return None if line is None else line.text

    # ------------------------------------------------------------------------------------------------ changes
    def set(self, section: str, key: str, value: H2pValue) -> None:
        """Set a value; the text is rewritten only when the value differs from the one in the file.

        A key the document lacks is appended to the (first) section of that name, which must exist.
        """
        line = self._find(section, key)
        if line is not None:
            if not _same_value(parse_value(line.text), value):
                line.text = format_value(value)
            return
        names = self.section_names
        if section not in names:
            raise KeyError(f"no section {section!r} in the document")
        index = names.index(section)
        opened = [i for i, ln in enumerate(self.lines) if ln.kind == "section"][index]
        last = max([opened] + [i for i, ln in enumerate(self.lines) if ln.kind == "field" and ln.section == index])
        self.lines.insert(last + 1, _Line("field", format_value(value), key, index))

    # ------------------------------------------------------------------------------------------------ writing
    def to_bytes(self) -> bytes:
        """The file contents; byte-identical to the input when nothing was changed."""
        nl = self._newline
        meta = self._meta_raw if self.meta == self._meta_read else _format_meta(self.meta, nl)
        body = nl.join(self._line_text(line) for line in self.lines)
        data = (meta + body).encode(ENCODING)
        return data if self.tail is None else data + nl.encode(ENCODING) + self.tail

    @staticmethod
    def _line_text(line: _Line) -> str:
        if line.kind == "raw":
            return line.text
        if line.kind == "section":
            return f"#cm={line.text}"
        if line.kind == "header":
            return f"#{line.key}={line.text}"
        return f"{line.key}={line.text}"

    def write(self, path: str | Path) -> Path:
        """Write the document to ``path`` (through a temporary file beside it, so a failed write leaves no
        half-written file and an existing file as it was).

        Raises:
            PresetFormatError: The file cannot be written (read-only folder, disk full...).
        """
        path = Path(path)
        data = self.to_bytes()
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            raise PresetFormatError(f"cannot write file: {exc.strerror or exc}", path) from None
        return path


def _same_value(old: H2pValue, new: H2pValue) -> bool:
    if isinstance(old, str) or isinstance(new, str):
        return old == new
    try:
        return float(old) == float(new)
    except OverflowError:  # an integer too large for a float
        return old == new


def _format_meta(meta: dict[str, str], nl: str) -> str:
    if not meta:
        return ""
    parts = [f"/*@Meta{nl}{nl}"]
    for key, value in meta.items():
        parts.append(f"{key}:{nl}'{value}'{nl}{nl}")
    parts.append(f"*/{nl}{nl}")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------------ reading
def read_h2p(path: str | Path) -> H2pDocument:
    """Read a ``.h2p`` file.

    Raises:
        PresetFormatError: The file cannot be read, is not a u-he preset, or is truncated.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PresetFormatError(f"cannot read file: {exc.strerror or exc}", path) from None
    return parse_h2p(data, path)


def parse_h2p(data: bytes, path: str | Path | None = None, synth: str | None = None) -> H2pDocument:
    """Parse the bytes of a ``.h2p`` file.

    Args:
        data: The file contents.
        path: Where they came from, for error messages.
        synth: If given, the ``#AM`` header must name this synth (``"Diva"``).

    Raises:
        PresetFormatError: Not a u-he preset, a preset of another synth, or truncated.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("parse_h2p needs bytes")
    text = bytes(data).decode(ENCODING)
    nl = "\r\n" if "\r\n" in text[:4096] else "\n"
    meta, meta_raw, body_start = _parse_meta(text, nl, path)
    doc = H2pDocument(path=None if path is None else str(path), _newline=nl)
    doc.meta, doc._meta_read, doc._meta_raw = dict(meta), dict(meta), meta_raw

    position = body_start
    section = -1
    seen_binary_marker = False
    line_number = text.count("\n", 0, body_start)
    while position <= len(text):
        end = text.find(nl, position)
        line = text[position:] if end < 0 else text[position:end]
        line_number += 1
        next_position = len(text) + 1 if end < 0 else end + len(nl)
        if _TAIL_LINE.fullmatch(line):
            doc.lines.append(_Line("raw", line))
            doc.tail = text[next_position:].encode(ENCODING) if end >= 0 else None
            seen_binary_marker = True
            break
        try:
            doc.lines.append(_classify(line, section, line_number, path))
        except PresetFormatError:
            if not any(ln.kind == "header" for ln in doc.lines):
                raise PresetFormatError("not a u-he preset: no #AM header line", path) from None
            raise
        if doc.lines[-1].kind == "section":
            section += 1
        if line.startswith(BINARY_COMMENT):
            seen_binary_marker = True
        position = next_position

    am = doc.header_value("AM")
    if am is None:
        raise PresetFormatError("not a u-he preset: no #AM header line", path)
    if synth is not None and am != synth:
        raise PresetFormatError(f"this is a {am!r} preset, not {synth}", path)
    if section < 0:
        raise PresetFormatError("truncated or empty preset: no #cm= parameter section", path)
    if not seen_binary_marker:
        raise PresetFormatError("truncated preset: the file ends before its binary data section", path)
    return doc


def _classify(line: str, section: int, number: int, path) -> _Line:
    stripped = line.strip()
    if not stripped or stripped.startswith("//"):
        return _Line("raw", line)
    if line.startswith("#cm="):
        name = line[4:]
        if not name:
            raise PresetFormatError(f"line {number}: empty section name", path)
        return _Line("section", name)
    key, sep, value = line.partition("=")
    if not sep or not key:
        raise PresetFormatError(f"line {number}: expected Key=value, found {line[:60]!r}", path)
    if section < 0:
        if not key.startswith("#"):
            raise PresetFormatError(f"line {number}: parameter {key!r} before any #cm= section", path)
        return _Line("header", value, key[1:])
    return _Line("field", value, key, section)


def _parse_meta(text: str, nl: str, path) -> tuple[list[tuple[str, str]], str, int]:
    """Read the ``/*@Meta`` block; returns its fields, its raw text and where the header starts."""
    if not text.startswith("/*@Meta"):
        return [], "", 0
    close = text.find(nl + "*/")
    if close < 0:
        raise PresetFormatError("truncated preset: the /*@Meta block is never closed", path)
    end = close + len(nl) + 2
    while text.startswith(nl, end):
        end += len(nl)
    block = text[len("/*@Meta"):close]
    fields: list[tuple[str, str]] = []
    lines = block.split(nl)
    i = 0
    while i < len(lines):
        match = _META_KEY.fullmatch(lines[i])
        if match is None:
            i += 1
            continue
        value_lines: list[str] = []
        i += 1
        if i < len(lines) and lines[i].startswith("'"):
            value_lines.append(lines[i][1:])
            while not value_lines[-1].endswith("'") and i + 1 < len(lines):
                i += 1
                value_lines.append(lines[i])
            value = nl.join(value_lines)
            value = value[:-1] if value.endswith("'") else value
            fields.append((match.group(1), value))
        i += 1
    return fields, text[:end], end
