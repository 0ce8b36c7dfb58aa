"""The command line's conventions: --version, -h, completion, the order of the commands, one spelling per option,
a training preset that fits the device, help without markup leaks, whole failure reasons in `dataset info`, and a
mismatched rebuild that says what differs."""

from __future__ import annotations

import json
import re
import shutil
from importlib import metadata
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import patchflow
from patchflow.cli import app
from patchflow.cli.app import COMMAND_ORDER
from patchflow.cli.train import choose_preset, describe_plan
from patchflow.data.build import BuildOptions, build_store, describe_mismatch
from patchflow.data.store import StoreError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
#: Width and colours of the help as `patchflow COMMAND --help` draws it in these tests.
HELP_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}

#: Commands that make one named thing (a store, a run, a WAV, a preset file): --out/-o is required.
MAKERS = ("train", "dataset build", "dataset import-audio", "dataset export-audio", "render", "presets convert",
          "translate train")
#: Commands that write a folder of results: --out/-o defaults to a folder of the working directory.
RESULTS = {"evaluate": "report", "match": "match", "macro": "macros", "explore": "exploration",
           "interpolate": "interpolation", "export": "export", "translate apply": "translated"}
#: Commands that draw progress bars.
WITH_BARS = ("dataset build", "train", "evaluate", "match", "translate train")
#: Commands that print what they found: each has --json.
WITH_JSON = ("synths", "plugins", "models", "dataset info", "evaluate", "match")


def command_paths(group=None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every visible command of ``patchflow``, groups included, as argument paths."""
    group = group if group is not None else typer.main.get_command(app)
    found = [path]
    for name, command in getattr(group, "commands", {}).items():
        if not command.hidden:
            found += command_paths(command, (*path, name))
    return found


def command(path: str):
    """The click command of ``patchflow PATH``."""
    found = typer.main.get_command(app)
    for name in path.split():
        found = found.commands[name]
    return found


def option(path: str, name: str):
    """The parameter of ``patchflow PATH`` called ``name`` in Python."""
    matches = [p for p in command(path).params if p.name == name]
    assert matches, f"patchflow {path} has no option {name}"
    return matches[0]


def help_text(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], prog_name="patchflow", env=HELP_ENV, terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    """Output with the table borders gone and white space collapsed, so wrapped cells read as one line."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


# ---------------------------------------------------------------------------------- 4: version, -h, completion
def test_version_names_patchflow_and_every_plugin():
    result = runner.invoke(app, ["--version"], prog_name="patchflow")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"patchflow {patchflow.__version__}"
    assert any("dexed" in line and metadata.version("patchflow-dexed") in line for line in lines[1:])


def test_plugins_lists_each_adapter_version():
    rows = json.loads(runner.invoke(app, ["plugins", "--json"]).stdout)
    dexed = next(r for r in rows if r["name"] == "dexed")
    assert dexed["distribution"] == "patchflow-dexed" and dexed["version"] == metadata.version("patchflow-dexed")
    table = flat(runner.invoke(app, ["plugins"], terminal_width=200).stdout)
    assert f"dexed patchflow_dexed.plugin patchflow-dexed {dexed['version']} ok" in table


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "patchflow")
def test_dash_h_is_help(path):
    result = runner.invoke(app, [*path, "-h"], prog_name="patchflow", env=HELP_ENV)
    assert result.exit_code == 0, result.output
    assert "Usage: patchflow" in result.output and "--help" in result.output


def test_shell_completion():
    assert "--install-completion" in help_text() and "--show-completion" in help_text()
    script = runner.invoke(app, ["--show-completion"], prog_name="patchflow", env={"SHELL": "/bin/bash"})
    assert script.exit_code == 0, script.output
    assert "_PATCHFLOW_COMPLETE=complete_bash" in script.stdout
    completed = runner.invoke(app, [], prog_name="patchflow", env={
        "_PATCHFLOW_COMPLETE": "complete_bash", "COMP_WORDS": "patchflow datas", "COMP_CWORD": "1"})
    assert completed.stdout.split() == ["dataset"]
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "--install-completion" in text and "--show-completion" in text


def test_commands_follow_the_data_path():
    listed = [line.split()[1] for line in help_text().splitlines() if re.match(r"│ [a-z][a-z-]* ", line)]
    builtin = [name for name in listed if name in COMMAND_ORDER]
    assert builtin == [name for name in COMMAND_ORDER if name in listed]
    assert listed[:4] == ["synths", "presets", "render", "dataset"] and builtin[-3:] == ["plugins", "models",
                                                                                       "new-adapter"]


# ------------------------------------------------------------------------------- 5: one spelling per option
@pytest.mark.parametrize("path", [*MAKERS, *RESULTS, "new-adapter"])
def test_every_writer_takes_out_o(path):
    out = option(path, "out")
    assert set(out.opts) == {"--out", "-o"}, out.opts
    if path in MAKERS:
        assert out.required, f"patchflow {path}: --out names what the command makes, so it is required"
    elif path in RESULTS:
        assert not out.required and Path(out.default) == Path(RESULTS[path])
    else:  # new-adapter: ./patchflow-NAME
        assert not out.required and out.default is None


@pytest.mark.parametrize("path", WITH_BARS)
def test_bars_can_be_switched_off(path):
    progress = option(path, "progress")
    assert progress.opts == ["--progress"] and progress.secondary_opts == ["--no-progress"]


@pytest.mark.parametrize("path", WITH_JSON)
def test_json_where_a_command_reports(path):
    assert [p for p in command(path).params if "--json" in p.opts]


def test_flags_have_one_spelling():
    for path in ("dataset build", "dataset import-audio"):
        overwrite = option(path, "overwrite")
        assert overwrite.opts == ["--overwrite"] and not overwrite.secondary_opts


def test_synths_json_lists_parameter_names():
    rows = json.loads(runner.invoke(app, ["synths", "--json"]).stdout)
    dexed = next(r for r in rows if r["id"] == "dexed")
    names = [spec["name"] for spec in dexed["parameter_specs"]]
    assert names == patchflow.get_synth("dexed").parameters.names and len(names) == dexed["parameters"]
    assert "op1_output_level" in names  # the name the preset-parser tutorial writes in its sample


def test_evaluate_and_match_print_json(tiny_run, small_dexed_store, tmp_path):
    run = tiny_run("mlp")
    report = runner.invoke(app, ["evaluate", str(run), "--data", str(small_dexed_store.path), "-o",
                                 str(tmp_path / "report"), "--max-items", "2", "--examples", "0", "--json",
                                 "--no-progress"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout) == json.loads((tmp_path / "report" / "results.json").read_text())
    sound = tmp_path / "target.wav"
    exported = runner.invoke(app, ["dataset", "export-audio", str(small_dexed_store.path), "-o", str(sound)])
    assert exported.exit_code == 0, exported.output
    matched = runner.invoke(app, ["match", str(run), str(sound), "-o", str(tmp_path / "match"), "--budget", "0",
                                  "--neighbours", "2", "--workers", "1", "--json", "--no-progress"])
    assert matched.exit_code == 0, matched.output
    assert json.loads(matched.stdout) == json.loads((tmp_path / "match" / "match.json").read_text())


# ------------------------------------------------------------------------------ 6: a preset for the device
def test_auto_preset_fits_the_device():
    assert choose_preset("auto", "cpu") == "small"
    assert choose_preset("auto", "cuda") == choose_preset("auto", "cuda:1") == "paper"
    assert choose_preset("paper", "cpu") == "paper"
    assert option("train", "preset").default == "auto"


def test_train_says_what_it_chose_and_what_it_costs(small_dexed_store, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data", str(small_dexed_store.path), "--model", "mlp", "-o", str(out),
                                 "--epochs", "1", "--max-batches", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["preset"] == "small"
    line = result.stderr.splitlines()[0]
    train_rows = len(small_dexed_store.split_indices("train"))
    assert line.startswith("preset small (auto, for cpu): up to 1 epoch x 1 batch of 32")
    assert f"({train_rows} training presets)" in line and "roughly" in line
    assert "stops after" not in line


def test_the_plan_names_the_time_limit_that_ends_a_run_before_its_epochs(small_dexed_store, tmp_path):
    from patchflow.training import make_config

    config = make_config(small_dexed_store.path, tmp_path / "run", "flow_post", preset="cpu")
    line = describe_plan(config, "cpu")
    assert "up to 200 epochs" in line and line.endswith("stops after the epoch that reaches 25 min of training")
    # the plan says when the run trains in mixed precision, as the cpu preset does on CPUs with bfloat16
    assert line.startswith("preset cpu on cpu in bfloat16 mixed precision:") == config.cpu_amp
    plain = make_config(small_dexed_store.path, tmp_path / "run", "flow_post", preset="cpu",
                        overrides={"cpu_amp": False})
    assert describe_plan(plain, "cpu").startswith("preset cpu on cpu: up to 200 epochs")


def test_the_plan_estimates_each_model_of_the_cpu_preset_at_its_own_speed(small_dexed_store, tmp_path):
    from patchflow.cli.train import CPU_SAMPLES_PER_S, CPU_SAMPLES_PER_S_BY_MODEL
    from patchflow.training import make_config

    def rate(model: str) -> str:
        line = describe_plan(make_config(small_dexed_store.path, tmp_path / model, model, preset="cpu"), "cpu")
        return line.split(" at ~")[1].split(" samples/s")[0]

    assert rate("flow_gen") == f"{CPU_SAMPLES_PER_S_BY_MODEL['cpu']['flow_gen']:g}"
    assert rate("cnn") == f"{CPU_SAMPLES_PER_S['cpu']:g}"  # no figure of its own: the preset's
    assert float(rate("flow_gen")) > float(rate("flow_post")) > float(rate("cnn"))


# ------------------------------------------------------------------------------ 7: help without markup leaks
@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "patchflow")
def test_help_has_no_markup_leaks(path):
    text = help_text(*path)
    assert "<bool>" not in text  # a flag takes no value
    assert "``" not in text  # reStructuredText
    assert not re.search(r"\{[a-z_]+\}", text)  # the usage line names arguments as RUN_DIR, not {run_dir}
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert not re.search(r"\b[a-z_]+\.\.\.", usage) and "{" not in usage


def test_help_keeps_brackets_and_joins_lines():
    assert "FILE[#INDEX] holding the parameters not learned" in flat(help_text("dataset", "build"))
    assert "Usage: patchflow match [OPTIONS] RUN_DIR SOUND" in help_text("match")
    # the summary of a command in the list is a paragraph, not the docstring's lines
    assert "re-rendered presets (spectral convergence" in flat(help_text())


# ---------------------------------------------------------------- 8: dataset info and mismatched rebuilds
@pytest.fixture(scope="module")
def inputs(dx7_dir, tmp_path_factory) -> Path:
    """A folder with one real DX7 bank and a file no parser reads."""
    folder = tmp_path_factory.mktemp("inputs") / "presets"
    folder.mkdir()
    shutil.copy(dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx", folder / "ROM1A.syx")
    (folder / "notes.txt").write_text("not a preset\n")
    return folder


@pytest.fixture(scope="module")
def failing_store(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stores") / "with-failures.zarr"
    build_store("dexed", [inputs], out, BuildOptions(limit=6), workers=1)
    return out


def test_dataset_info_shows_whole_failure_reasons(failing_store):
    data = json.loads(runner.invoke(app, ["dataset", "info", str(failing_store), "--json"]).stdout)
    failure = data["failures"][0]
    reason = failure["reason"].removeprefix(f"{failure['source']}: ")
    assert reason.startswith("no preset parser recognises this file (tried: ") and len(reason) > 70
    result = runner.invoke(app, ["dataset", "info", str(failing_store)])
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert f"count stage reason 1 parse {reason}" in text  # by reason: whole, wrapped, never cut
    assert "Failures, all stage source reason parse /" in text and "notes.txt" in text  # each one, with its stage


def test_rebuild_with_other_options_names_them(inputs, failing_store):
    with pytest.raises(StoreError, match="built with other options: --limit 6 there, 5 now; --seed 0 there, 1 now"):
        build_store("dexed", [inputs], failing_store, BuildOptions(limit=5, seed=1), workers=1)
    result = runner.invoke(app, ["dataset", "build", "-s", "dexed", "-p", str(inputs), "-o", str(failing_store),
                                 "--limit", "6", "--note", "62", "--no-progress"])
    assert result.exit_code == 1
    assert "--note 60 there, 62 now" in flat(result.output) and "--overwrite" in result.output


def test_rebuild_with_other_files_names_them(dx7_dir, tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    bank = dx7_dir / "Original Yamaha" / "DX7 ROM1"
    for name in ("ROM1A.syx", "ROM1B.syx"):
        shutil.copy(bank / name, folder / name)
    (folder / "notes.txt").write_text("v1\n")
    out = tmp_path / "store.zarr"
    build_store("dexed", [folder], out, BuildOptions(limit=4), workers=1)
    (folder / "ROM1B.syx").unlink()
    shutil.copy(bank / "ROM1B.syx", folder / "ROM1C.syx")
    (folder / "notes.txt").write_text("version 2\n")
    with pytest.raises(StoreError) as caught:
        build_store("dexed", [folder], out, BuildOptions(limit=4), workers=1)
    message = str(caught.value)
    assert "built from other input files: " in message
    assert f"1 added ({folder / 'ROM1C.syx'})" in message and f"1 removed ({folder / 'ROM1B.syx'})" in message
    assert f"1 changed ({folder / 'notes.txt'})" in message


def test_mismatch_of_a_store_that_lists_no_files():
    build = {"params": "16", "seed": 0, "settings": {"note": 60, "velocity": 100}, "paths": ["/a"], "format": 3}
    assert describe_mismatch({"build": build, "synth": "dexed"}, "dexed", dict(build), {"root": "/", "files": {}}) \
        .startswith("built from other input files (added, removed or changed since")
    other = dict(build, settings={"note": 60, "velocity": 90}, paths=["/a", "/b"])
    message = describe_mismatch({"build": build, "synth": "dexed"}, "diva", other, {"root": "/", "files": {}})
    assert message == ("built with other options: --synth dexed there, diva now; --presets added /b; "
                       "--velocity 100 there, 90 now")
