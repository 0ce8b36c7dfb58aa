"""Fixtures shared by the whole suite: where the real preset corpora are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHFLOW_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): tiny
    models run faster on one thread than split over two busy cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _chromium() -> str | None:
    """Debian's headless Chromium (``make test`` installs it), or the browser PATCHFLOW_CHROMIUM names."""
    import shutil

    if os.environ.get("PATCHFLOW_CHROMIUM"):
        return os.environ["PATCHFLOW_CHROMIUM"]
    for name in ("chromium-headless-shell", "chromium"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Playwright; skipped outside CI when there is none, required in CI. Its fake
    microphone (a beeping tone, granted without asking) serves the studio's recording test."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = ("playwright is not installed (the dev extra has it: make setup)" if sync_playwright is None else
               "no Chromium found: make browser installs Debian's chromium-headless-shell"
               if executable is None else "")
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        try:
            yield chromium
        finally:
            chromium.close()


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


#: Folders of the DX7 corpus the small test store is built from (DX7 ROM1 holds the base voice, E.PIANO 1).
SMALL_STORE_FOLDERS = ("Original Yamaha/DX7 ROM1", "Bo Tomlyn", "Christopher Pardy (Pat)", "Ray", "Solange",
                       "Sonus", "Syntech")


@pytest.fixture(scope="session")
def small_dexed_store(dx7_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real Dexed store: 300 distinct voices of a few corpus folders, 16 learned parameters, default render
    settings (3 s held, 4 s, 22050 Hz -> 128 x 87 mels), split grouped by bank. Built once per session."""
    from patchflow.data.build import BuildOptions, build_store
    from patchflow.data.store import open_store

    out = tmp_path_factory.mktemp("stores") / "small_dexed.zarr"
    build_store("dexed", [dx7_dir / f for f in SMALL_STORE_FOLDERS], out,
                BuildOptions(params="16", limit=300, seed=0, split="grouped"))
    return open_store(out)


@pytest.fixture(scope="session")
def tagged_dexed_store(small_dexed_store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small Dexed store with a ``Bright/Dark`` tag pair measured from its own mels (DX7 banks carry no tags):
    the brightest third of the presets is tagged Bright, the darkest third Dark, the rest left unknown."""
    import shutil

    import numpy as np
    import zarr

    path = tmp_path_factory.mktemp("tagged") / "tagged.zarr"
    shutil.copytree(small_dexed_store.path, path)
    group = zarr.open_group(str(path), mode="r+")
    power = 10.0 ** (np.asarray(group["mel"][:], dtype=np.float64) / 10.0)
    spectrum = power.mean(axis=2)
    centroid = (spectrum * np.arange(spectrum.shape[1])).sum(axis=1) / spectrum.sum(axis=1)
    low, high = np.quantile(centroid, [1 / 3, 2 / 3])
    tags = np.where(centroid >= high, 1, np.where(centroid <= low, -1, 0)).astype(np.int8)[:, None]
    del group["tags"]
    group.create_array("tags", shape=tags.shape, dtype="int8", chunks=(64, 1), fill_value=0)
    group["tags"][:] = tags
    meta = dict(group.attrs["patchflow"])
    meta["tag_pairs"] = ["Bright/Dark"]
    group.attrs["patchflow"] = meta
    return path


@pytest.fixture(scope="session")
def tone_domains(small_dexed_store, tmp_path_factory: pytest.TempPathFactory):
    """Two stores for the translation tests: square tones (domain A) and sine tones (B), 16 pitches each,
    imported like the small Dexed store (tests/tone_domains.py). Returns their paths ``(a, b)``."""
    from tone_domains import tone_stores

    return tone_stores(small_dexed_store.path, tmp_path_factory.mktemp("tones"))


#: Training overrides of the tiny runs that evaluation, application and export tests share.
TINY_RUN = {"epochs": 1, "batch_size": 16, "max_batches_per_epoch": 3, "max_valid_batches": 1,
            "beta_warmup_epochs": 0, "progress": False, "model.conv_channels": 16, "model.mlp_hidden": 64}


@pytest.fixture(scope="session")
def tiny_run_overrides() -> dict:
    """The training overrides of the tiny runs, for tests that train on a store of their own."""
    return dict(TINY_RUN)


@pytest.fixture(scope="session")
def tiny_run(small_dexed_store, tmp_path_factory: pytest.TempPathFactory):
    """Factory ``tiny_run(model_name) -> run directory``: one short training per model name and session on the
    small Dexed store (the trainer's ``small`` preset, narrowed further), shared by every test that asks."""
    from patchflow.training import make_config, train

    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in runs:
            out = tmp_path_factory.mktemp("runs") / name
            runs[name] = train(make_config(small_dexed_store.path, out, name, preset="small", overrides=TINY_RUN))
        return runs[name]

    return get
