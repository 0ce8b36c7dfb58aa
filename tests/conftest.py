"""Fixtures shared by the whole suite: where the real preset corpora are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The folder holding the real corpora (``PATCHFLOW_SHARED``, default ``../shared``)."""
    if not (SHARED / "data").is_dir():
        pytest.fail(f"real preset corpora not found at {SHARED}/data; set PATCHFLOW_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def dx7_dir(shared_dir: Path) -> Path:
    """The shared DX7 cartridge corpus."""
    return shared_dir / "data" / "dx7"


@pytest.fixture(scope="session")
def diva_dir(shared_dir: Path) -> Path:
    """The shared Diva data (presets and the paper's parameter lists)."""
    return shared_dir / "data" / "diva"
