"""Tag pairs from where presets were found: a small TOML mapping of folder patterns to the sides of tag pairs.

Preset banks rarely carry tags, but curated corpora are sorted into folders by instrument family. A mapping such
as::

    [[pair]]
    name = "Brass/Strings"
    Brass = ["!Instruments/Brass/*"]
    Strings = ["!Instruments/Strings/Violin/*", "!Instruments/Strings/cello/*"]

gives every preset read from a file whose path, relative to the input folder it was found under, matches one of a
side's patterns (shell-style, case-insensitive, ``*`` crossing folder separators) that side of the pair, so a
``flow_dis`` run gets semantic knobs named by people. ``dataset build --tags FILE`` reads one; ``SYNTH:NAME`` names
a mapping shipped by the synth's adapter (``dexed:dx7-folders`` for the shared DX7 corpus).
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import PatchflowError
from ..presets import Preset

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class TagRulesError(PatchflowError):
    """A tag mapping cannot be found or read."""


@dataclass(frozen=True)
class TagPairRule:
    """One tag pair and the folder patterns of each side."""

    name: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]

    @property
    def sides(self) -> tuple[str, str]:
        positive, _, negative = self.name.partition("/")
        return positive, negative

    def side_of(self, relative: str) -> str | None:
        """The side whose patterns match ``relative`` (a '/'-separated path), or ``None``."""
        path = relative.lower()
        hits = [side for side, patterns in zip(self.sides, (self.positive, self.negative))
                if any(fnmatch.fnmatchcase(path, p.lower()) for p in patterns)]
        return hits[0] if len(hits) == 1 else None  # a path on both sides says nothing


def _locate(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    synth, sep, name = spec.partition(":")
    if sep and name and "/" not in name:
        from ..registries import get_synth_class

        package = get_synth_class(synth).__module__.split(".")[0]
        shipped = resources.files(package) / "tags" / f"{name}.toml"
        if shipped.is_file():
            return Path(str(shipped))
        raise TagRulesError(f"{synth}'s adapter ships no tag mapping named {name!r}")
    raise TagRulesError(f"tag mapping not found: {spec} (a TOML file, or SYNTH:NAME for one an adapter ships)")


def load_tag_rules(spec: str | Path) -> list[TagPairRule]:
    """Read a tag mapping (a file, or ``SYNTH:NAME``).

    Raises:
        TagRulesError: It cannot be found, is not TOML, or a pair is malformed.
    """
    path = _locate(str(spec))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TagRulesError(f"{path}: not a readable TOML tag mapping ({exc})") from None
    rules = []
    for k, pair in enumerate(data.get("pair", [])):
        name = pair.get("name") if isinstance(pair, dict) else None
        if not isinstance(name, str) or name.count("/") != 1 or not all(name.split("/")):
            raise TagRulesError(f"{path}: pair {k + 1} needs a name like 'Brass/Strings'")
        positive, negative = name.split("/")
        sides = [pair.get(positive, []), pair.get(negative, [])]
        if not all(isinstance(s, list) and all(isinstance(p, str) for p in s) for s in sides) or not any(sides):
            raise TagRulesError(f"{path}: pair {name!r} needs lists of folder patterns under {positive!r} and "
                                f"{negative!r}")
        rules.append(TagPairRule(name, tuple(sides[0]), tuple(sides[1])))
    if not rules:
        raise TagRulesError(f"{path}: no [[pair]] tables")
    return rules


def apply_tag_rules(presets: Sequence[Preset], roots: Sequence[Path], rules: Sequence[TagPairRule]) -> list[Preset]:
    """``presets`` with the tag pairs their source files' folders give (tags a preset already has are kept)."""
    resolved = [Path(r).expanduser().resolve() for r in roots]
    out = []
    for preset in presets:
        relative = _relative(preset, resolved)
        tags = dict(preset.tags)
        if relative is not None:
            for rule in rules:
                side = rule.side_of(relative)
                if side is not None and rule.name not in tags:
                    tags[rule.name] = side
        out.append(preset if tags == preset.tags else preset.model_copy(update={"tags": tags}))
    return out


def _relative(preset: Preset, roots: Sequence[Path]) -> str | None:
    if preset.source is None or not preset.source.path:
        return None
    file = Path(preset.source.path).resolve()
    for root in roots:
        if root.is_dir() and file.is_relative_to(root):
            return file.relative_to(root).as_posix()
    return None
