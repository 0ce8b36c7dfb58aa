"""Where a command may write a store: never over its inputs, never over files patchflow did not write.

``--overwrite`` replaces a store, and only a store: a folder whose entries are all the arrays of the store layout
(:data:`patchflow.data.store.ARRAY_NAMES`) and its ``zarr.json``. Anything else in the folder (a cartridge, a
``notes.txt``) makes patchflow refuse, with or without ``--overwrite``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from ..locking import LOCK_NAME
from .store import ARRAY_NAMES, StoreError

_STORE_ENTRIES = frozenset(ARRAY_NAMES) | {"zarr.json"}


def folder_entries(path: Path) -> list[str]:
    """The names in ``path`` other than patchflow's lock file (empty when ``path`` does not exist)."""
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.name != LOCK_NAME)


def is_store_folder(path: Path) -> bool:
    """``path`` is a folder that holds a store patchflow wrote (finished or not) and nothing else."""
    entries = set(folder_entries(path))
    return "zarr.json" in entries and entries <= _STORE_ENTRIES


def check_writable_out(out: Path, inputs: Iterable[Path]) -> None:
    """Refuse an ``--out`` that is a file, or that is or contains one of ``inputs``.

    Raises:
        StoreError: ``out`` is an existing file, an input, or a folder holding an input.
    """
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out} is a file; --out names the store folder to write (e.g. NAME.zarr)")
    target = out.expanduser().resolve()
    for raw in inputs:
        source = Path(raw).expanduser().resolve()
        if source == target or source.is_relative_to(target):
            raise StoreError(f"--out {out} is or contains the input {raw}; write the store to a folder of its own "
                             f"(e.g. {out.name or 'store'}.zarr beside the inputs)")


def refuse_foreign(out: Path) -> None:
    """Refuse an ``out`` that holds files patchflow did not write.

    Raises:
        StoreError: ``out`` is a non-empty folder that is not a store.
    """
    entries = folder_entries(out)
    if entries and not is_store_folder(out):
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise StoreError(f"{out} exists and is not a patchflow store (it holds {shown}); patchflow only replaces "
                         f"stores it wrote: choose another --out")


def clear_store(out: Path) -> None:
    """Remove the store in ``out``, leaving the folder itself (and its lock); a missing or empty folder is fine.

    Raises:
        StoreError: ``out`` holds anything a store does not (nothing is removed then).
    """
    refuse_foreign(out)
    for name in folder_entries(out):
        entry = out / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()

