"""The layering of docs/architecture.md: import-linter checks the package (``lint-imports`` in ``make test``, and
here); ``patchflow.flows`` lives in its own folder, which import-linter's graph does not reach, so its imports are
read here."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a file (relative imports are the flows package's own)."""
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.lineno, node.module))
    return names


def test_flows_import_nothing_of_patchflow() -> None:
    offending = [f"{path.relative_to(ROOT)}:{line}: {name}"
                 for path in sorted((ROOT / "flows").rglob("*.py"))
                 for line, name in imported_modules(path)
                 if name.split(".")[0] == "patchflow" and not name.startswith("patchflow.flows")]
    assert not offending, "patchflow.flows must stay usable alone:\n" + "\n".join(offending)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text("import torch\nfrom patchflow.data.store import open_store\nfrom .made import MADE\n")
    assert imported_modules(source) == [(1, "torch"), (2, "patchflow.data.store")]


def test_import_contracts_hold() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command, "import-linter is part of the dev extra (make setup installs it)"
    result = subprocess.run([command, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
