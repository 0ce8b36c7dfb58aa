"""Checkpoints: plain tensor state dicts (``.pt``, loaded with ``weights_only=True``) beside JSON bookkeeping,
written atomically so an interrupted write never replaces a good checkpoint."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import PatchflowError

CHECKPOINTS = "checkpoints"


class CheckpointError(PatchflowError):
    """A checkpoint is missing or unreadable."""


def save_checkpoint(run_dir: Path, name: str, tensors: dict[str, Any], info: dict[str, Any]) -> None:
    """Write ``checkpoints/<name>.pt`` (state dicts) and ``checkpoints/<name>.json`` (bookkeeping).

    Both files are written under temporary names first and take their final names only once both are complete,
    so a failed write (a full disk, a kill) leaves the previous checkpoint whole and no temporary file behind.

    Raises:
        CheckpointError: The checkpoint could not be written (the previous one, if any, is kept).
    """
    folder = Path(run_dir) / CHECKPOINTS
    pt, js = folder / f"{name}.pt", folder / f"{name}.json"
    pt_tmp, js_tmp = pt.with_name(pt.name + ".tmp"), js.with_name(js.name + ".tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(tensors, pt_tmp)
        js_tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(pt_tmp, pt)
        os.replace(js_tmp, js)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as a RuntimeError
        for tmp in (pt_tmp, js_tmp):
            tmp.unlink(missing_ok=True)
        kept = " the previous checkpoint is kept;" if pt.exists() and js.exists() else ""
        raise CheckpointError(f"{pt}: cannot write the checkpoint ({getattr(exc, 'strerror', None) or exc});{kept} free some space "
                              f"or choose another --out, then resume") from None


def load_checkpoint(run_dir: Path, name: str, map_location: str | torch.device = "cpu"
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the state dicts and bookkeeping written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: The checkpoint does not exist or cannot be read.
    """
    folder = Path(run_dir) / CHECKPOINTS
    pt, js = folder / f"{name}.pt", folder / f"{name}.json"
    if not pt.exists() or not js.exists():
        raise CheckpointError(f"{pt}: no such checkpoint (has the run finished an epoch yet?)")
    try:
        tensors = torch.load(pt, map_location=map_location, weights_only=True)
        info = json.loads(js.read_text())
    except Exception as exc:  # torch and json raise many kinds for a damaged file
        raise CheckpointError(f"{pt}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(tensors, dict) or not isinstance(tensors.get("model"), dict):
        raise CheckpointError(f"{pt}: not a patchflow checkpoint (it holds a {type(tensors).__name__}, not the state "
                              f"dicts of a run)")
    if not isinstance(info, dict):
        raise CheckpointError(f"{js}: not a patchflow checkpoint record (a {type(info).__name__}, not an object)")
    return tensors, info


def has_checkpoint(run_dir: Path, name: str) -> bool:
    """Whether ``checkpoints/<name>`` exists in ``run_dir``."""
    folder = Path(run_dir) / CHECKPOINTS
    return (folder / f"{name}.pt").exists() and (folder / f"{name}.json").exists()


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The states of torch (CPU and CUDA), numpy's global and Python's random generators: tensors and JSON."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = state
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return tensors, {"numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
                     "python": [version, list(internal), gauss_next]}


def restore_rng(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["torch"].cpu())
    cuda = [tensors[k].cpu() for k in sorted(k for k in tensors if k.startswith("cuda"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    name, keys, pos, has_gauss, gauss = info["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = info["python"]
    random.setstate((version, tuple(internal), gauss_next))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
