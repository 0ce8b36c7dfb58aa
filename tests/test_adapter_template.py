"""`patchflow new-adapter` writes an adapter that installs and passes its own tests unmodified."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchflow import PatchflowError
from patchflow.cli import app
from patchflow.templates import AdapterNames, TemplateError, fill, write_adapter
from private_install import isolated_env, pip_install_to

EXPECTED_FILES = {
    "README.md",
    "pyproject.toml",
    "patchflow_tinysynth/__init__.py",
    "patchflow_tinysynth/factory.json",
    "patchflow_tinysynth/formats.py",
    "patchflow_tinysynth/plugin.py",
    "patchflow_tinysynth/synth.py",
    "tests/test_tinysynth.py",
    "tests/test_tinysynth_adapter_suite.py",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A skeleton for the synth ``tinysynth`` written by the command line."""
    target = tmp_path_factory.mktemp("template") / "patchflow-tinysynth"
    result = CliRunner().invoke(app, ["new-adapter", "tinysynth", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    return target


def test_the_command_writes_every_file_with_no_placeholder_left(generated):
    written = {str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file()}
    assert written == EXPECTED_FILES
    for name in written:
        assert "{{" not in (generated / name).read_text(encoding="utf-8"), name


def test_the_pyproject_declares_the_entry_point(generated):
    project = tomllib.loads((generated / "pyproject.toml").read_text())["project"]
    assert project["name"] == "patchflow-tinysynth"
    assert project["entry-points"]["patchflow"] == {"tinysynth": "patchflow_tinysynth.plugin"}


def test_names_derive_from_the_synth_id():
    names = AdapterNames.from_synth_id("my_synth2")
    assert (names.module, names.dist, names.class_name, names.display_name) == (
        "patchflow_my_synth2", "patchflow-my-synth2", "MySynth2Synth", "My Synth2")


@pytest.mark.parametrize("bad", ["MySynth", "2synth", "my-synth", "", "a" * 41, "../x"])
def test_invalid_names_are_refused_with_a_clear_error(bad, tmp_path):
    with pytest.raises(TemplateError, match="invalid synth name"):
        write_adapter(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert issubclass(TemplateError, PatchflowError)


def test_the_command_reports_a_bad_name_without_a_traceback(tmp_path):
    result = CliRunner().invoke(app, ["new-adapter", "Bad-Name", "--dir", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "invalid synth name 'Bad-Name'" in result.output
    assert "Traceback" not in result.output


def test_existing_files_are_kept_unless_forced(tmp_path):
    target = tmp_path / "patchflow-keep"
    write_adapter("keep", target)
    synth_py = target / "patchflow_keep" / "synth.py"
    synth_py.write_text("# my work\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="would overwrite"):
        write_adapter("keep", target)
    assert synth_py.read_text(encoding="utf-8") == "# my work\n"
    write_adapter("keep", target, overwrite=True)
    assert "class KeepSynth" in synth_py.read_text(encoding="utf-8")


def test_a_placeholder_without_a_value_is_an_error():
    assert fill("id = {{ synth_id }}", {"synth_id": "x"}) == "id = x"
    with pytest.raises(TemplateError, match=re.escape("pyproject.toml.tmpl: placeholder {{dist}} has no value")):
        fill("name = {{dist}}", {}, "pyproject.toml.tmpl")


def test_the_generated_adapter_installs_and_passes_its_own_tests(generated, tmp_path):
    site = tmp_path / "site"
    pip_install_to(site, generated)
    assert (site / "patchflow_tinysynth" / "factory.json").is_file()
    # run from elsewhere so the tests import the installed package, not the source folder
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(generated / "tests")],
                            capture_output=True, text=True, cwd=tmp_path, env=isolated_env(site), timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed >= 10 and "failed" not in result.stdout and "skipped" not in result.stdout
