"""Semantic tag pairs from the ``Character`` tags of Diva presets (the labels Flow_dis learns from).

Each pair is a dimension with a positive pole (the first word) and a negative pole (the second word):
``Bright/Dark`` is ``+1`` for a preset tagged Bright, ``-1`` for one tagged Dark and ``0`` (unknown) for one tagged
neither or both. In :attr:`patchflow.Preset.tags` a pair is stored under its name with the pole's word as value
(``{"Bright/Dark": "Dark"}``), or ``None`` when unknown; :func:`tag_pair_vector` gives the ``-1/0/+1`` numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from patchflow import Preset

#: The tag pairs, in the order of :func:`tag_pair_vector`.
TAG_PAIRS: tuple[str, ...] = (
    "Bright/Dark", "Clean/Dirty", "Modern/Vintage", "Phat/Thin", "Soft/Aggressive", "Constant/Moving",
    "Natural/Synthetic", "Wide/Narrow", "Harmonic/Inharmonic", "Dynamic/Static",
)

#: Tag words folded onto a pole (compared case-insensitively).
SYNONYMS: dict[str, str] = {
    "evolving": "Moving",
    "rich & phat": "Phat",
    "rich and phat": "Phat",
    "distorted": "Dirty",
    "defined & sparse": "Thin",
    "defined and sparse": "Thin",
}

_POLES: dict[str, tuple[str, int]] = {}
for _pair in TAG_PAIRS:
    _positive, _negative = _pair.split("/")
    _POLES[_positive.lower()] = (_pair, 1)
    _POLES[_negative.lower()] = (_pair, -1)


def split_tags(text: str | None) -> list[str]:
    """The comma-separated words of a meta field (``"Dark, Moving"`` -> ``["Dark", "Moving"]``)."""
    return [word.strip() for word in (text or "").split(",") if word.strip()]


def fold(word: str) -> str:
    """A tag word with its synonym folded onto its pole (``Evolving`` -> ``Moving``)."""
    return SYNONYMS.get(word.strip().lower(), word.strip())


def tag_pairs(character: Iterable[str]) -> dict[str, str | None]:
    """The pole of every pair given a preset's Character tags: the pole's word, or ``None`` when unknown."""
    signs = {pair: set() for pair in TAG_PAIRS}
    for word in character:
        pole = _POLES.get(fold(word).lower())
        if pole is not None:
            signs[pole[0]].add(pole[1])
    out: dict[str, str | None] = {}
    for pair, found in signs.items():
        positive, negative = pair.split("/")
        out[pair] = None if len(found) != 1 else (positive if 1 in found else negative)
    return out


def pole_sign(pair: str, value: object) -> int:
    """``+1`` / ``-1`` / ``0`` for a stored pair value (the pole word, a number, or ``None``)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, (int, float)):
        return (value > 0) - (value < 0)
    positive, negative = pair.split("/")
    word = fold(str(value)).lower()
    return 1 if word == positive.lower() else -1 if word == negative.lower() else 0


def tag_pair_vector(preset: Preset) -> list[int]:
    """``-1/0/+1`` for every pair of :data:`TAG_PAIRS`, from the preset's stored pairs or its Character tags."""
    if any(pair in preset.tags for pair in TAG_PAIRS):
        return [pole_sign(pair, preset.tags.get(pair)) for pair in TAG_PAIRS]
    character = preset.tags.get("Character") or []
    words = split_tags(character) if isinstance(character, str) else list(character)
    pairs = tag_pairs(words)
    return [pole_sign(pair, pairs[pair]) for pair in TAG_PAIRS]
