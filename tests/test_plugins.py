"""Plugin discovery: adapters installed as separate distributions, a third-party package, filtering, errors."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from patchflow import PluginError, RenderSettings, UnknownSynthError, get_synth, hookimpl, hookspecs
from patchflow.plugins import (
    ENV_PLUGINS,
    installed_plugins,
    plugin_problems,
    preset_parsers,
    register_plugin,
    reset,
    synth_classes,
    unregister_plugin,
)

PATCHFLOW = Path(sys.executable).with_name("patchflow")

TOY_PLUGIN = '''
"""A third-party synth adapter for patchflow: a sine oscillator with one knob."""

import numpy as np

from patchflow import ParameterSpec, Synth, hookimpl


class ToySynth(Synth):
    id = "toysine"
    display_name = "Toy sine"

    def parameter_specs(self):
        return [ParameterSpec(name="gain", low=0, high=1, default=0.5)]

    def render(self, preset, settings):
        t = np.arange(settings.num_samples) / settings.sample_rate
        gain = preset.values.get("gain", 0.5)
        return (gain * np.sin(2 * np.pi * 440 * 2 ** ((settings.note - 69) / 12) * t)).astype(np.float32)


@hookimpl
def register_synths(register):
    register(ToySynth)
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "patchflow-toysine"
version = "1.2.3"
dependencies = ["patchflow"]

[project.entry-points.patchflow]
toysine = "patchflow_toysine"
broken = "patchflow_toysine_broken"

[tool.setuptools]
packages = ["patchflow_toysine", "patchflow_toysine_broken"]
'''


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A third-party plugin distribution, pip-installed into its own folder."""
    source = tmp_path_factory.mktemp("toysine-src")
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "patchflow_toysine").mkdir()
    (source / "patchflow_toysine" / "__init__.py").write_text(TOY_PLUGIN)
    (source / "patchflow_toysine_broken").mkdir()
    (source / "patchflow_toysine_broken" / "__init__.py").write_text('raise ImportError("needs libfoo")\n')
    site = tmp_path_factory.mktemp("toysine-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    assert (site / "patchflow_toysine" / "__init__.py").is_file()
    return site


def run_cli(*args: str, site: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != ENV_PLUGINS}
    environment.update(PYTHONPATH=str(site), **env)
    return subprocess.run([str(PATCHFLOW), *args], capture_output=True, text=True, env=environment, timeout=300)


@pytest.fixture
def fresh_registry():
    """Rediscover plugins before and after a test that changes the environment or registers plugins."""
    reset()
    yield
    reset()


def test_dexed_comes_from_its_own_distribution() -> None:
    points = {ep.name: ep for ep in metadata.entry_points(group=hookspecs.PROJECT)}
    assert points["dexed"].value == "patchflow_dexed.plugin"
    assert points["dexed"].dist.name == "patchflow-dexed"
    found = {p.name: p for p in installed_plugins()}
    assert found["dexed"].distribution == "patchflow-dexed" and found["dexed"].error == ""
    assert synth_classes()["dexed"].__module__ == "patchflow_dexed.synth"
    assert "dx7-sysex" in [p.name for p in preset_parsers("dexed")]


def test_third_party_package_is_discovered(toy_site: Path) -> None:
    done = run_cli("synths", "--json", site=toy_site)
    assert done.returncode == 0, done.stderr
    rows = {row["id"]: row for row in json.loads(done.stdout)}
    assert rows["toysine"]["parameters"] == 1 and rows["toysine"]["module"] == "patchflow_toysine"
    assert "dexed" in rows


def test_plugin_filter_and_broken_plugins(toy_site: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry) -> None:
    monkeypatch.syspath_prepend(str(toy_site))
    monkeypatch.setenv(ENV_PLUGINS, "toysine,broken")
    reset()
    rows = {p.name: p for p in installed_plugins()}
    assert set(rows) == {"toysine", "broken"}  # dexed is installed but filtered out
    assert rows["toysine"].distribution == "patchflow-toysine" and rows["toysine"].version == "1.2.3"
    assert rows["toysine"].error == "" and "needs libfoo" in rows["broken"].error
    assert list(synth_classes()) == ["toysine"]
    audio = get_synth("toysine").render(get_synth("toysine").default_preset(),
                                        RenderSettings(total_seconds=0.5, note_seconds=0.5))
    assert audio.shape == (11025,) and audio.max() > 0.4


def test_env_filter_in_process(monkeypatch: pytest.MonkeyPatch, fresh_registry) -> None:
    monkeypatch.setenv(ENV_PLUGINS, "")
    reset()
    assert synth_classes() == {}
    assert [p.name for p in preset_parsers()] == ["patchflow-json"]  # built-in plugins always load
    with pytest.raises(UnknownSynthError, match="installed synths: none"):
        get_synth("dexed")
    monkeypatch.setenv(ENV_PLUGINS, "dexed")
    reset()
    assert list(synth_classes()) == ["dexed"]


def test_unknown_synth_names_the_installed_ones() -> None:
    with pytest.raises(UnknownSynthError) as info:
        get_synth("moog")
    message = str(info.value)
    assert "'moog'" in message and "dexed" in message and "patchflow synths" in message


def test_duplicate_synth_ids_are_refused(fresh_registry) -> None:
    from patchflow_dexed import DexedSynth

    class Impostor(DexedSynth):
        pass

    @hookimpl
    def register_synths(register):
        register(Impostor)

    register_plugin(SimpleNamespace(register_synths=register_synths), name="impostor")
    try:
        with pytest.raises(PluginError, match="two plugins register the synth id 'dexed'"):
            synth_classes()
    finally:
        unregister_plugin("impostor")
    assert synth_classes()["dexed"] is DexedSynth


def test_wrong_registrations_are_refused(fresh_registry) -> None:
    @hookimpl
    def register_preset_parsers(register):
        register("not a parser")

    register_plugin(SimpleNamespace(register_preset_parsers=register_preset_parsers), name="bad-parser")
    try:  # the plugin is left out and reported; the other parsers keep working
        assert "dx7-sysex" in [p.name for p in preset_parsers()]
        [problem] = [p for p in plugin_problems() if p.plugin == "bad-parser"]
        assert problem.hook == "register_preset_parsers" and "does not implement PresetParser" in problem.error
    finally:
        unregister_plugin("bad-parser")
    assert not [p for p in plugin_problems() if p.plugin == "bad-parser"]


def test_every_hook_is_documented() -> None:
    hooks = [name for name, obj in vars(hookspecs).items() if name.startswith("register_") and callable(obj)]
    assert {"register_synths", "register_preset_parsers", "register_preset_writers", "register_models",
            "register_commands"} <= set(hooks)
    for name in hooks:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 40, f"{name} needs a docstring saying how to use it"
