"""Faulty and overlapping plugins: a hook that raises leaves only its plugin out, two parsers that claim one file
say so and can be chosen, and the hints of the command line fit an installed patchflow."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from patchflow import UnknownSynthError, get_synth, hookimpl, parse_preset_file
from patchflow.cli import app
from patchflow.plugin_loading import ENV_PLUGINS, ENV_TRACE, plugin_problems, register_plugin, reset
from patchflow.preset_files import SEVERAL_PARSERS
from patchflow.registries import add_commands, preset_parsers, synth_classes
from private_install import isolated_env, pip_install_to

PATCHFLOW = Path(sys.executable).with_name("patchflow")

#: A synth adapter with its own JSON bank format, like the ones `patchflow new-adapter` writes.
TOYBANK = '''
import json
from pathlib import Path

import numpy as np

from patchflow import ParameterSpec, ParseResult, Preset, PresetSource, Synth, hookimpl


class ToyBankSynth(Synth):
    id = "toybank"

    def parameter_specs(self):
        return [ParameterSpec(name="level", low=0, high=1, default=0.5)]

    def render(self, preset, note=60, velocity=100, note_seconds=3.0, total_seconds=4.0, sample_rate=22050):
        return np.zeros(int(total_seconds * sample_rate), np.float32)


class ToyBankParser:
    name = "toybank-json"
    synth = "toybank"

    def recognises(self, path, head):
        return path.suffix == ".json" and b'"toybank-presets"' in head

    def parse(self, path):
        entries = json.loads(Path(path).read_text())["presets"]
        return ParseResult(path=str(path), parser=self.name, presets=[
            Preset(synth="toybank", name=e["name"], values=e["values"], source=PresetSource(path=str(path), index=i))
            for i, e in enumerate(entries)])


@hookimpl
def register_synths(register):
    register(ToyBankSynth)


@hookimpl
def register_preset_parsers(register):
    register(ToyBankParser())
'''

#: Another plugin's parser that claims every ``.json`` file.
GREEDY = '''
from patchflow import ParseResult, Preset, hookimpl


class GreedyParser:
    name = "greedy-json"
    synth = "greedy"

    def recognises(self, path, head):
        return path.suffix == ".json"

    def parse(self, path):
        return ParseResult(path=str(path), parser=self.name, presets=[Preset(synth="greedy", name="whatever")])


@hookimpl
def register_preset_parsers(register):
    register(GreedyParser())
'''

#: A parser plugin whose hook imports, when called, a module with a syntax error.
BADPARSE = '''
from patchflow import hookimpl


@hookimpl
def register_preset_parsers(register):
    from .parser import BadParser

    register(BadParser())
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "patchflow-faults-demo"
version = "0.0.1"
dependencies = ["patchflow"]

[project.entry-points.patchflow]
toybank = "patchflow_toybank"
greedy = "patchflow_greedy"
badparse = "patchflow_badparse"

[tool.setuptools]
packages = ["patchflow_toybank", "patchflow_greedy", "patchflow_badparse"]
'''

BANK = {"format": "toybank-presets", "presets": [{"name": "Soft", "values": {"level": 0.25}},
                                                 {"name": "Loud", "values": {"level": 1.0}}]}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three plugins above, pip-installed into a folder of their own."""
    source = tmp_path_factory.mktemp("faults-src")
    (source / "pyproject.toml").write_text(PYPROJECT)
    for package, text in {"patchflow_toybank": TOYBANK, "patchflow_greedy": GREEDY,
                          "patchflow_badparse": BADPARSE}.items():
        (source / package).mkdir()
        (source / package / "__init__.py").write_text(text)
    (source / "patchflow_badparse" / "parser.py").write_text("class BadParser(:\n    pass\n")
    target = tmp_path_factory.mktemp("faults-site")
    pip_install_to(target, source)
    return target


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "factory.json"
    path.write_text(json.dumps(BANK))
    return path


def run(*args: str, site: Path, **env: str) -> subprocess.CompletedProcess:
    environment = isolated_env(site)
    environment.pop(ENV_TRACE, None)
    environment.update(env)
    return subprocess.run([str(PATCHFLOW), *args], capture_output=True, text=True, env=environment, timeout=300)


@pytest.fixture
def fresh_registry():
    reset()
    yield
    reset()


# ------------------------------------------------------------------------------------------ a hook that raises
def test_synths_and_inspect_survive_a_hook_that_raises(site: Path, dx7_dir: Path) -> None:
    listed = run("synths", "--json", site=site)
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert {"dexed", "toybank"} <= set(rows) and "dx7-sysex" in rows["dexed"]["parsers"]
    assert "Traceback" not in listed.stderr
    [warning] = [line for line in listed.stderr.splitlines() if "badparse" in line]
    assert "register_preset_parsers" in warning and "SyntaxError" in warning and ENV_TRACE in warning

    inspected = run("presets", "inspect", str(dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx"), "--json",
                    site=site)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["summary"]["presets"] == 32
    assert "Traceback" not in inspected.stderr and "skipped plugin 'badparse'" in inspected.stderr


def test_plugins_command_reports_the_hook_that_failed(site: Path) -> None:
    listed = run("plugins", "--json", site=site)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["badparse"]["error"] == ""  # it imports fine: the hook fails when called
    [problem] = rows["badparse"]["problems"]
    assert problem["hook"] == "register_preset_parsers" and problem["error"].startswith("SyntaxError")
    assert rows["toybank"]["problems"] == [] and rows["dexed"]["problems"] == []
    table = run("plugins", site=site, COLUMNS="250")
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if "badparse" in line)
    assert "register_preset_parsers failed" in line and " ok " not in line
    assert "skipped plugin" not in table.stderr  # shown in the table, not warned twice


def test_trace_shows_the_traceback(site: Path) -> None:
    traced = run("synths", "--json", site=site, **{ENV_TRACE: "1"})
    assert traced.returncode == 0, traced.stderr
    assert "Traceback" in traced.stderr and "parser.py" in traced.stderr and "SyntaxError" in traced.stderr


def test_faulty_hooks_in_process_leave_the_others_working(fresh_registry) -> None:
    @hookimpl
    def register_synths(register):
        raise RuntimeError("engine library missing\nsecond line")

    @hookimpl
    def register_commands(cli):
        raise ImportError("no module named typer_extras")

    register_plugin(SimpleNamespace(register_synths=register_synths, register_commands=register_commands),
                    name="faulty")
    assert "dexed" in synth_classes()
    add_commands(SimpleNamespace())  # raises nothing
    problems = {(p.plugin, p.hook): p for p in plugin_problems()}
    assert problems[("faulty", "register_synths")].error == "RuntimeError: engine library missing"
    assert "Traceback" in problems[("faulty", "register_synths")].traceback
    assert problems[("faulty", "register_commands")].error.startswith("ImportError")
    with pytest.raises(UnknownSynthError, match="plugin 'faulty' failed in register_synths"):
        get_synth("faultysynth")


def test_a_parser_whose_recognises_raises_is_skipped(tmp_path: Path, fresh_registry) -> None:
    class Flaky:
        name = "flaky"
        synth = "*"

        def recognises(self, path, head):
            raise ValueError("bug in recognises")

        def parse(self, path):
            raise AssertionError("never called")

    @hookimpl
    def register_preset_parsers(register):
        register(Flaky())

    register_plugin(SimpleNamespace(register_preset_parsers=register_preset_parsers), name="flaky-plugin")
    path = tmp_path / "one.preset.json"
    path.write_text(json.dumps({"synth": "dexed", "name": "x", "values": {}}))
    assert parse_preset_file(path).parser == "patchflow-json"
    [problem] = [p for p in plugin_problems() if p.plugin == "flaky-plugin"]
    assert problem.hook == "parser flaky: recognises" and problem.error == "ValueError: bug in recognises"


# ---------------------------------------------------------------------------------- two parsers, one file
#: The plugins of the overlap tests (the faulty one is tested above).
OVERLAP = {ENV_PLUGINS: "dexed,toybank,greedy"}


def test_two_parsers_claiming_one_file_say_so(site: Path, bank: Path) -> None:
    inspected = run("presets", "inspect", str(bank), "--json", site=site, **OVERLAP)
    assert inspected.returncode == 0, inspected.stderr
    [result] = json.loads(inspected.stdout)["files"]
    [note] = [p for p in result["problems"] if p["kind"] == SEVERAL_PARSERS]
    assert "toybank-json" in note["message"] and "greedy-json" in note["message"] and "--parser" in note["message"]
    assert note["action"] == f"read with {result['parser']}"
    table = run("presets", "inspect", str(bank), site=site, COLUMNS="250", **OVERLAP)
    assert table.returncode == 0 and SEVERAL_PARSERS in table.stderr and "--parser NAME" in table.stderr


def test_parser_option_chooses(site: Path, bank: Path, tmp_path: Path) -> None:
    chosen = run("presets", "inspect", str(bank), "--json", "--parser", "toybank-json", site=site, **OVERLAP)
    assert chosen.returncode == 0, chosen.stderr
    [result] = json.loads(chosen.stdout)["files"]
    assert result["parser"] == "toybank-json" and [p["name"] for p in result["presets"]] == ["Soft", "Loud"]
    assert not [p for p in result["problems"] if p["kind"] == SEVERAL_PARSERS]

    out = tmp_path / "bank.preset.json"
    converted = run("presets", "convert", str(bank), "--parser", "toybank-json", "--out", str(out), site=site,
                    **OVERLAP)
    assert converted.returncode == 0, converted.stderr
    assert [p["name"] for p in json.loads(out.read_text())] == ["Soft", "Loud"]
    ambiguous = run("presets", "convert", str(bank), "--out", str(tmp_path / "any.preset.json"), site=site,
                    **OVERLAP)
    assert SEVERAL_PARSERS in ambiguous.stderr

    unknown = run("presets", "inspect", str(bank), "--parser", "toybank-jsn", site=site, **OVERLAP)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "no preset parser named 'toybank-jsn'" in unknown.stderr
    assert "did you mean 'toybank-json'" in unknown.stderr


# --------------------------------------------------------------------------------------- hints that fit
def test_unknown_synth_suggests_the_close_one() -> None:
    with pytest.raises(UnknownSynthError) as info:
        get_synth("dexd")
    assert "did you mean 'dexed'?" in str(info.value) and "patchflow-dexd" not in str(info.value)


def test_no_synths_hint_names_the_distribution(monkeypatch: pytest.MonkeyPatch, fresh_registry) -> None:
    monkeypatch.setenv(ENV_PLUGINS, "")
    reset()
    result = CliRunner().invoke(app, ["synths"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "pip install patchflow-dexed" in text and "from a source checkout: `pip install ./adapters/dexed`" in text
    assert [p.name for p in preset_parsers()] == ["patchflow-json"]


def test_new_adapter_next_step_installs_the_test_extra(tmp_path: Path) -> None:
    target = tmp_path / "patchflow-hintsynth"
    result = CliRunner().invoke(app, ["new-adapter", "hintsynth", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert f"pip install -e '{target}[test]'" in " ".join(result.output.split())
    extras = tomllib.loads((target / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "pytest" in " ".join(extras["test"])

