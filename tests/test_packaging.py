"""The distributions ship every module: a regular (non-editable) wheel holds what the source tree holds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from private_install import isolated_env, pip_install_to

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


@pytest.mark.parametrize("adapter, module", [("dexed", "patchflow_dexed"), ("vst3", "patchflow_vst3"),
                                             ("diva", "patchflow_diva")])
def test_each_adapter_wheel_holds_its_modules_and_entry_point(tmp_path: Path, adapter: str, module: str) -> None:
    folder = ROOT / "adapters" / adapter
    wheel = build_wheel(folder, tmp_path, ["pyproject.toml", "README.md", module])
    names = set(wheel.namelist())
    missing = {n for n in expected_files(folder / module, module) if n.endswith(".py")} - names
    assert not missing, sorted(missing)
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[patchflow]" in entry_points and f"{adapter} = {module}.plugin" in entry_points


#: Runs the patchflow command line with every other adapter made unimportable, as if only patchflow-vst3 (and
#: patchflow) were installed: the installed adapters' entry points are still listed, and fail to load.
ONLY_VST3 = [sys.executable, "-c", """
import sys
class OtherAdapters:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"patchflow_diva", "patchflow_dexed"}:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, OtherAdapters())
from patchflow.cli import main
sys.argv[0] = "patchflow"
main()
"""]


@pytest.fixture(scope="module")
def vst3_alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regular (non-editable) install of ``./adapters/vst3`` alone, in a private folder."""
    tmp = tmp_path_factory.mktemp("vst3-alone")
    copy = shutil.copytree(ROOT / "adapters" / "vst3", tmp / "vst3",
                           ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    site = tmp / "site"
    pip_install_to(site, copy)
    return site


def run_alone(site: Path, tmp_path: Path, plugins: str, *args: str) -> subprocess.CompletedProcess:
    env = {**isolated_env(site), "PATCHFLOW_VST3_PLUGINS": plugins, "PATCHFLOW_CONFIG_DIR": str(tmp_path)}
    return subprocess.run([*ONLY_VST3, *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_the_vst3_distribution_alone_registers_vst3_synths(vst3_alone: Path, tmp_path: Path) -> None:
    result = run_alone(vst3_alone, tmp_path, f"mysynth={tmp_path / 'MySynth.vst3'}", "plugins", "--json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["vst3"]["distribution"] == "patchflow-vst3" and rows["vst3"]["module"] == "patchflow_vst3.plugin"
    assert rows["vst3"]["error"] == ""
    assert all(row["error"] for name, row in rows.items() if name in {"diva", "dexed"})  # really absent
    code = ("import json, patchflow_vst3; from patchflow.plugins import synth_classes; "
            "print(json.dumps({'file': patchflow_vst3.__file__, "
            "'synths': {k: v.__module__ for k, v in synth_classes().items()}}))")
    env = {**isolated_env(vst3_alone), "PATCHFLOW_VST3_PLUGINS": f"mysynth={tmp_path / 'MySynth.vst3'}",
           "PATCHFLOW_CONFIG_DIR": str(tmp_path), "PATCHFLOW_PLUGINS": "vst3"}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert found.returncode == 0, found.stderr[-3000:]
    report = json.loads(found.stdout)
    assert Path(report["file"]).is_relative_to(vst3_alone)
    assert report["synths"] == {"vst3:mysynth": "patchflow_vst3.synth"}


def test_the_vst3_distribution_alone_renders_the_test_instrument(vst3_alone: Path, tmp_path: Path) -> None:
    from vst3_test_instrument import instrument_path

    instrument = instrument_path()
    preset = tmp_path / "bright.preset.json"
    preset.write_text(json.dumps([{"synth": "vst3:testsynth", "name": "bright", "values": {"VCF1: Frequency": 140.0}}]),
                      encoding="utf-8")
    wav = tmp_path / "bright.wav"
    result = run_alone(vst3_alone, tmp_path, f"testsynth={instrument}", "render", "vst3:testsynth", str(preset),
                       "--out", str(wav), "--note-seconds", "0.5", "--total-seconds", "1.0")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    import soundfile

    audio, rate = soundfile.read(wav)
    assert rate == 22050 and len(audio) == 22050 and abs(audio).max() > 0.01
