"""Reading a model's dataclass settings back from JSON, shared by the translation models' configs."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def settings_from_json(cls: type[T], data: dict[str, Any], error: type[Exception], what: str) -> T:
    """``cls(**data)`` for a dataclass ``cls``, refusing keys it does not know with ``error`` (``what`` names the
    settings in the message)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown {what} settings {unknown}; known: {sorted(known)}")
    return cls(**data)
