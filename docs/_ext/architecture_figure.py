"""Draws the layers of the package (docs/architecture.md) from the import contracts in ``pyproject.toml``.

The picture is made at every build from the same ``[tool.importlinter]`` contracts that ``make test`` checks, so
the page cannot drift from the rules. It is written to ``docs/images/generated/architecture.png`` (git-ignored).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.application import Sphinx

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "images" / "generated" / "architecture.png"

#: One line per layer: what lives there.
ROLES = {
    "patchflow.cli": "the patchflow command: options, progress bars, files",
    "patchflow.studio": "the local web app: match, macro-knobs, exploration in a browser",
    "patchflow.apps": "matching, macro-knobs, exploration, export",
    "patchflow.evaluation": "the protocol, reference rows, reports",
    "patchflow.runtime": "loaded runs, inference, renders, distances, retrieval, search",
    "patchflow.training": "the trainer: checkpoints, resume, DDP",
    "patchflow.models": "the models of the method and the baselines",
    "patchflow.data": "features, rendering pool, dataset builder, zarr stores",
}


def layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "layers":
            return list(contract["layers"])
    raise RuntimeError("no layers contract in pyproject.toml")


def draw(path: Path = OUT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = layers() + ["core contracts"]
    roles = dict(ROLES, **{"core contracts": "Synth, presets, parameters, plugins, errors, locks, progress"})
    fig, ax = plt.subplots(figsize=(11.5, 0.62 * len(rows) + 0.5), dpi=120)
    for k, name in enumerate(rows):
        y = len(rows) - 1 - k
        ax.add_patch(plt.Rectangle((0, y + 0.08), 1.3, 0.84, color="#e8eef7" if k % 2 else "#d6e2f3", lw=0))
        ax.text(0.02, y + 0.5, name, va="center", fontsize=10.5, fontweight="bold", family="monospace")
        ax.text(0.42, y + 0.5, roles.get(name, ""), va="center", fontsize=9.5)
    ax.annotate("", xy=(1.34, 0.1), xytext=(1.34, len(rows) - 0.1),
                arrowprops={"arrowstyle": "->", "lw": 1.4, "color": "#555555"})
    ax.text(1.36, len(rows) / 2, "imports only\ndownwards", va="center", fontsize=9, color="#555555")
    ax.text(0.0, -0.35, "patchflow.flows (the flow library) imports nothing of patchflow; adapters import the core "
            "contracts only (Diva's also the VST3 host)", fontsize=8, color="#555555")
    ax.set_xlim(0, 1.55)
    ax.set_ylim(-0.6, len(rows))
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _build(app: Sphinx) -> None:
    draw()


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("builder-inited", _build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
