"""Exported models (TorchScript and ONNX) give the in-framework outputs and load without patchflow."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from patchflow.apps.common import ApplicationError
from patchflow.apps.export import export_run
from patchflow.cli import app
from patchflow.runtime import load_run

LATENT_MODEL = "flow_post"

#: Loads the exported graphs with torch alone: importing patchflow fails inside this script.
STANDALONE = """
import sys, json
sys.modules["patchflow"] = None
import numpy as np, torch
folder, inputs, outputs = sys.argv[1:4]
data = np.load(inputs)
result = {}
for name in ("mel_to_params", "latent_to_params"):
    graph = torch.jit.load(f"{folder}/{name}.pt")
    result[name] = np.concatenate([graph(torch.from_numpy(q[None])).numpy() for q in data[name]])
np.savez(outputs, **result)
"""


@pytest.fixture(scope="module")
def run(tiny_run):
    return load_run(tiny_run(LATENT_MODEL))


@pytest.fixture(scope="module")
def queries(run, small_dexed_store):
    rows = small_dexed_store.split_indices("test")[:3]
    mel = np.asarray(small_dexed_store.mel.get_orthogonal_selection((rows, slice(None), slice(None))),
                     dtype=np.float32)
    z = torch.randn((3, run.model.latent_dim), generator=torch.Generator().manual_seed(1)).numpy()
    with torch.no_grad():
        expected = {"mel_to_params": run.model.predict_params(run.normalise_mel(torch.from_numpy(mel))).numpy(),
                    "latent_to_params": run.model.params_from_latent(torch.from_numpy(z)).numpy()}
    return {"mel_to_params": mel, "latent_to_params": z}, expected


def test_torchscript_matches_and_needs_no_patchflow(run, queries, tmp_path):
    inputs, expected = queries
    files = export_run(run, tmp_path / "ts", "torchscript")
    assert sorted(files) == ["latent_to_params", "mel_to_params", "meta"]
    np.savez(tmp_path / "in.npz", **inputs)
    done = subprocess.run([sys.executable, "-c", STANDALONE, str(tmp_path / "ts"), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "out.npz")
    for name in expected:  # one query at a time, as traced
        np.testing.assert_allclose(got[name], np.clip(expected[name], 0, 1), atol=1e-5)
    meta = json.loads(files["meta"].read_text())
    assert meta["graphs"]["mel_to_params"]["input"] == [1, *inputs["mel_to_params"].shape[1:]]
    assert [p["name"] for p in meta["parameters"]] == run.parameters.names


def test_onnx_matches(run, queries, tmp_path):
    import onnxruntime

    inputs, expected = queries
    files = export_run(run, tmp_path / "onnx", "onnx")
    for name in expected:
        session = onnxruntime.InferenceSession(str(files[name]), providers=["CPUExecutionProvider"])
        got = np.concatenate([session.run(None, {"input": q[None]})[0] for q in inputs[name]])
        np.testing.assert_allclose(got, np.clip(expected[name], 0, 1), atol=1e-4)


def test_export_command_and_errors(tiny_run, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["export", str(tiny_run("mlp")), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "mel_to_params.pt").is_file() and not (out / "latent_to_params.pt").exists()
    bad = CliRunner().invoke(app, ["export", str(tiny_run("mlp")), "--format", "tflite", "--out", str(out)])
    assert bad.exit_code == 1 and "tflite" in bad.output
    with pytest.raises(ApplicationError):
        export_run(load_run(tiny_run("mlp")), out, "coreml")
