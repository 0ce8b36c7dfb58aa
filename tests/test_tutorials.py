"""The tutorial packages in examples/ install, show up in the command line, read their files and pass their tests."""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from patchflow.templates import write_adapter
from private_install import isolated_env, pip_install_to

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FM2, DX7_TEXT = EXAMPLES / "patchflow-fm2", EXAMPLES / "patchflow-dx7-text"
PATCHFLOW = [sys.executable, "-c", "import sys; from patchflow.cli import main; sys.argv[0] = 'patchflow'; main()"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Copies of both example packages (so builds never touch the checkout), installed into a private folder."""
    tmp = tmp_path_factory.mktemp("tutorials")
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    fm2, dx7_text = shutil.copytree(FM2, tmp / FM2.name, ignore=ignore), shutil.copytree(
        DX7_TEXT, tmp / DX7_TEXT.name, ignore=ignore)
    site = tmp / "site"
    pip_install_to(site, fm2, dx7_text)
    return {"site": site, "fm2": fm2, "dx7_text": dx7_text, "tmp": tmp}


def patchflow_cli(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*PATCHFLOW, *args], capture_output=True, text=True, cwd=installed["tmp"],
                            env=isolated_env(installed["site"]), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_fm2_adapter_is_listed_by_patchflow_synths(installed):
    synths = {row["id"]: row for row in json.loads(patchflow_cli(installed, "synths", "--json").stdout)}
    assert synths["fm2"]["module"] == "patchflow_fm2.synth"
    assert (synths["fm2"]["parameters"], synths["fm2"]["continuous"], synths["fm2"]["categorical"]) == (7, 6, 1)
    assert "fm2-json" in synths["fm2"]["parsers"] and "fm2-json" in synths["fm2"]["writers"]
    assert "dx7-text" in synths["dexed"]["parsers"]


def test_the_fm2_factory_bank_is_read_and_renders(installed, tmp_path):
    bank = installed["site"] / "patchflow_fm2" / "factory.json"
    report = json.loads(patchflow_cli(installed, "presets", "inspect", "--json", str(bank)).stdout)
    (file,) = report["files"]
    assert file["parser"] == "fm2-json" and file["problems"] == []
    assert [p["name"] for p in file["presets"]][:3] == ["Init", "Electric piano", "Tubular bell"]
    wav = tmp_path / "bell.wav"
    patchflow_cli(installed, "render", "fm2", str(bank), "--index", "2", "--out", str(wav),
                  "--note-seconds", "0.5", "--total-seconds", "1.0")
    audio, rate = soundfile.read(wav)
    assert rate == 22050 and len(audio) == 22050 and np.max(np.abs(audio)) > 0.05


def test_the_dx7_text_plugin_reads_its_sample_and_dexed_renders_it(installed, tmp_path):
    sample = installed["dx7_text"] / "samples" / "bells.dx7.txt"
    report = json.loads(patchflow_cli(installed, "presets", "inspect", "--json", str(sample)).stdout)
    (file,) = report["files"]
    assert file["parser"] == "dx7-text" and file["problems"] == []
    bell, organ = file["presets"]
    assert (bell["name"], bell["synth"], bell["values"]["algorithm"]) == ("Glass bell", "dexed", 4)
    assert organ["values"]["algorithm"] == 31
    wav = tmp_path / "organ.wav"
    patchflow_cli(installed, "render", "dexed", str(sample), "--index", "1", "--out", str(wav),
                  "--note-seconds", "0.5", "--total-seconds", "0.6")
    audio, _ = soundfile.read(wav)
    assert np.max(np.abs(audio)) > 0.05


def test_the_example_packages_pass_their_own_tests(installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(installed["fm2"] / "tests"), str(installed["dx7_text"] / "tests")],
                            capture_output=True, text=True, cwd=installed["tmp"], env=isolated_env(installed["site"]),
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in .*", summary) and int(summary.split()[0]) >= 25, summary


def test_the_fm2_example_is_the_template_with_only_the_synth_and_its_presets_changed(tmp_path):
    """The tutorial says FM2 starts from `patchflow new-adapter`; keep it true when the template changes."""
    fresh = tmp_path / "patchflow-fm2"
    write_adapter("fm2", fresh, display_name="FM2 (two-operator FM)")
    files = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    example_files = sorted(str(p.relative_to(FM2)) for p in FM2.rglob("*")
                           if p.is_file() and not {"__pycache__", "build"} & set(p.relative_to(FM2).parts)
                           and ".egg-info" not in str(p))
    assert files == example_files
    _, differ, errors = filecmp.cmpfiles(fresh, FM2, files, shallow=False)
    assert sorted(differ) == ["patchflow_fm2/factory.json", "patchflow_fm2/synth.py"] and not errors
