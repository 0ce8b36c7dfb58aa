"""Single-query CPU latency of exported models (the real-time case: one sound in, one preset out).

Models are built at the ``small`` size with their initial weights: latency depends on the architecture, not on
training. Target: well under 10 ms per query on one CPU core.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import patchflow
from patchflow.apps.export import export_run
from patchflow.data.features import FeatureSettings
from patchflow.models import build_model
from patchflow.models.config import ModelConfig

PARAMS = 16


def small_run(name: str) -> SimpleNamespace:
    """A run-like object around an untrained small model of 16 Dexed parameters."""
    table = patchflow.get_synth("dexed").parameters
    parameters = table.subset([s.name for s in table if s.is_continuous][:PARAMS])
    config = ModelConfig(name=name, n_params=PARAMS, input_shape=(128, 87)).with_preset("small")
    return SimpleNamespace(model=build_model(config).eval(), parameters=parameters, synth_id="dexed",
                           mel_mean=-40.0, mel_std=20.0, feature_settings=FeatureSettings(),
                           render_settings=patchflow.RenderSettings(), run_dir=f"<untrained {name}>")


@pytest.mark.parametrize("name", ["mlp", "cnn", "flow_post"])
def test_torchscript_single_query_latency(benchmark, name, tmp_path):
    files = export_run(small_run(name), tmp_path, "torchscript")
    graph = torch.jit.load(str(files["mel_to_params"]))
    query = torch.randn(1, 128, 87) * 20 - 40
    torch.set_num_threads(1)
    with torch.no_grad():
        graph(query)  # first call optimises the graph
        params = benchmark(graph, query)
    assert params.shape == (1, PARAMS) and bool(((params >= 0) & (params <= 1)).all())


def test_torchscript_latent_to_params_latency(benchmark, tmp_path):
    files = export_run(small_run("flow_post"), tmp_path, "torchscript")
    graph = torch.jit.load(str(files["latent_to_params"]))
    z = torch.randn(1, PARAMS)
    torch.set_num_threads(1)
    with torch.no_grad():
        graph(z)
        params = benchmark(graph, z)
    assert params.shape == (1, PARAMS)
