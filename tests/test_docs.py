"""The documentation builds with warnings as errors, its examples run, and every plugin hook is documented."""

from __future__ import annotations

import doctest
import json
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from patchflow import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPHINX_BUILD = [sys.executable, "-m", "sphinx"]
HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_"))


def _sphinx(builder: str, out: Path, doctrees: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SPHINX_BUILD, "-W", "--keep-going", "-q", "-b", builder, "-d", str(doctrees),
                           str(DOCS), str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> tuple[Path, Path]:
    """Build the HTML docs once (warnings are errors); returns (html folder, doctrees folder)."""
    tmp = tmp_path_factory.mktemp("docs")
    html, doctrees = tmp / "html", tmp / "doctrees"
    result = _sphinx("html", html, doctrees)
    assert result.returncode == 0, f"sphinx-build -W failed:\n{result.stderr}\n{result.stdout[-3000:]}"
    return html, doctrees


def test_the_docs_build_with_warnings_as_errors(built_docs):
    html, _ = built_docs
    for page in ("index", "quickstart", "concepts", "guide/index", "adapters", "plugins/index", "plugins/hooks",
                 "tutorials/adapter", "tutorials/preset-parser", "benchmarks", "cli", "api/index", "changelog"):
        assert (html / f"{page}.html").is_file(), page
    api = (html / "api" / "generated" / "patchflow.parameters.html").read_text(encoding="utf-8")
    assert "ParameterSpec" in api and "to_normalised" in api
    cli = (html / "cli.html").read_text(encoding="utf-8")
    assert "patchflow new-adapter" in cli and "--display-name" in cli


def test_the_doctest_blocks_of_the_pages_pass(built_docs, tmp_path):
    _, doctrees = built_docs
    result = _sphinx("doctest", tmp_path / "doctest", doctrees)
    report = (tmp_path / "doctest" / "output.txt").read_text(encoding="utf-8")
    assert result.returncode == 0, report
    summary = report[report.rindex("Doctest summary"):]
    assert int(re.search(r"(\d+) tests", summary).group(1)) >= 3, report
    assert re.search(r"\b0 failures in tests", summary), report


def _public_modules() -> list[str]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    names: set[str] = set()
    for package in [*packages, "patchflow_dexed", "patchflow_vst3", "patchflow_diva"]:
        names.add(package)
        try:  # a module that fails to import fails its own test below, not the collection of this file
            module = importlib.import_module(package)
        except Exception:
            continue
        if hasattr(module, "__path__"):
            names.update(info.name for info in pkgutil.walk_packages(module.__path__, package + ".",
                                                                      onerror=names.add))
    return sorted(n for n in names if not n.startswith("patchflow.cli") and not re.search(r"\._", n))


@pytest.mark.parametrize("module_name", _public_modules())
def test_docstring_examples_run(module_name):
    """Examples in docstrings appear in the API reference, so they run, with their module's globals."""
    module = importlib.import_module(module_name)
    finder, runner = doctest.DocTestFinder(exclude_empty=True), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, module_name, globs=dict(vars(module))):
        if test.examples and (test.filename or "").startswith(str(Path(module.__file__).parent)):
            runner.run(test)
    summary = runner.summarize(verbose=False)
    assert summary.failed == 0, f"{summary.failed} of {summary.attempted} docstring examples failed in {module_name}"


def test_the_api_reference_lists_every_package():
    listed = set(re.findall(r"^\s+(patchflow[\w.]*)\s*$", (DOCS / "api" / "index.rst").read_text(), re.M))
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    missing = packages - listed - {"patchflow", "patchflow.cli"}
    assert not missing, f"add these packages to docs/api/index.rst: {sorted(missing)}"


def test_hooks_exist():
    assert {"register_synths", "register_preset_parsers"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook, built_docs):
    """Each hook has a docstring, a section of its own in plugins/hooks.md, and its spec rendered there."""
    assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring in core/hookspecs.py"
    page = (DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8")
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"\n## {hook}({params})\n" in page, f"plugins/hooks.md lacks a section '## {hook}({params})'"
    section = page.split(f"\n## {hook}(", 1)[1].split("\n## ", 1)[0]
    assert f"autofunction:: patchflow.hookspecs.{hook}" in section
    assert "Example" in section
    html, _ = built_docs
    assert f'id="patchflow.hookspecs.{hook}"' in (html / "plugins" / "hooks.html").read_text(encoding="utf-8")


def test_the_hooks_page_documents_no_hook_that_does_not_exist():
    page = (DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8")
    assert sorted(re.findall(r"^## (\w+)\(", page, re.M)) == HOOKS


BENCHMARK_FILE = '''
from patchflow_dexed import DX7_PARAMETERS
from patchflow import ParameterTable

TABLE = ParameterTable(DX7_PARAMETERS)


def test_normalise_dx7_defaults(benchmark):
    benchmark.extra_info["parameters"] = len(TABLE)
    benchmark(TABLE.to_normalised, TABLE.defaults())
'''


def test_a_real_benchmark_report_renders_as_a_table_with_its_machine(tmp_path):
    (tmp_path / "test_tiny_benchmark.py").write_text(BENCHMARK_FILE, encoding="utf-8")
    report_path = tmp_path / "latest.json"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-only",
                             "--benchmark-max-time=0.05", "--benchmark-warmup=off", f"--benchmark-json={report_path}", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from benchmark_table import report_lines
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    lines = report_lines(json.loads(report_path.read_text()), "benchmarks/latest.json")
    assert lines[0].startswith("**Machine**") and "logical cores" in lines[0]
    (row,) = [line for line in lines if line.startswith("| `test_normalise_dx7_defaults`")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].endswith(("s", "ms", "µs", "ns")) and int(cells[4]) > 0 and cells[6] == "parameters=145"
