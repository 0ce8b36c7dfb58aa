"""The distributions ship every module: a regular (non-editable) wheel holds what the source tree holds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(project: Path, out: Path, parts: list[str]) -> zipfile.ZipFile:
    """Build a wheel from a copy of ``parts`` of ``project`` (setuptools writes build folders next to sources)."""
    copy = out / "source"
    for part in parts:
        source = project / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / part)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                             "--no-build-isolation", "--wheel-dir", str(out), str(copy)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def expected_files(folder: Path, package: str) -> set[str]:
    return {f"{package}/{path.relative_to(folder).as_posix()}" for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def test_the_patchflow_wheel_holds_core_flows_and_templates(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT, tmp_path, ["pyproject.toml", "README.md", "LICENSE", "core", "flows"])
    names = set(wheel.namelist())
    missing = (expected_files(ROOT / "core", "patchflow") | expected_files(ROOT / "flows", "patchflow/flows")) - names
    assert not missing, f"not in the wheel (add the package to pyproject.toml): {sorted(missing)[:10]}"
    assert any(n.startswith("patchflow/templates/adapter/") for n in names)
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "patchflow = patchflow.cli:main" in entry_points


@pytest.mark.parametrize("adapter, module", [("dexed", "patchflow_dexed"), ("diva", "patchflow_diva")])
def test_each_adapter_wheel_holds_its_modules_and_entry_point(tmp_path: Path, adapter: str, module: str) -> None:
    folder = ROOT / "adapters" / adapter
    wheel = build_wheel(folder, tmp_path, ["pyproject.toml", "README.md", module])
    names = set(wheel.namelist())
    missing = {n for n in expected_files(folder / module, module) if n.endswith(".py")} - names
    assert not missing, sorted(missing)
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[patchflow]" in entry_points and f"{adapter} = {module}.plugin" in entry_points
