"""The Ray backend renders the same store as the local one (on a local Ray instance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from patchflow.data.build import BuildOptions, build_store
from patchflow.data.store import open_group

ARRAYS = ("audio", "mel", "params", "native", "classes", "names", "sources", "peak", "ok", "error", "split")


def test_ray_backend_builds_the_same_store(dx7_dir: Path, tmp_path: Path) -> None:
    import ray

    rom = dx7_dir / "Original Yamaha"
    banks = [rom / "DX7 ROM1" / "ROM1A.syx", rom / "DX7 ROM1" / "ROM1B.syx", rom / "DX7 ROM2" / "ROM2A.syx"]
    names = tmp_path / "params.txt"
    names.write_text("algorithm\nfeedback\nop1_output_level\nop2_output_level\nop2_frequency_coarse\n")
    options = BuildOptions(params=str(names), split="grouped")
    local = build_store("dexed", banks, tmp_path / "local.zarr", options, workers=2, backend="local")
    distributed = build_store("dexed", banks, tmp_path / "ray.zarr", options, workers=2, backend="ray")
    assert not ray.is_initialized()  # the instance the build started is shut down again
    assert len(local) == len(distributed) > 64  # more than one chunk went through Ray
    a, b = open_group(local.path), open_group(distributed.path)
    for name in ARRAYS:
        np.testing.assert_array_equal(np.asarray(a[name][:]), np.asarray(b[name][:]), err_msg=name)
    assert local.meta["norm"] == distributed.meta["norm"]
    assert distributed.meta["timing"]["runs"][0]["backend"] == "ray"
