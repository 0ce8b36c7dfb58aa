"""`make quality` at a tiny size: the whole pipeline of the quality table (build with random presets and an
author split, train cnn, flow_post and flow_gen with the CPU recipe, evaluate with every reference row) runs and writes every
metric. The numbers are not asserted here; the training guide's table comes from the full run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIO_METRICS = {"sc", "spec_mse", "sc_paper", "log_ratio_paper", "mss", "sot", "env_cos", "wmfcc"}


def test_the_quality_pipeline_runs_at_a_tiny_size(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "quality"
    env = dict(os.environ, SHARED=str(shared_dir), OUT=str(out), LIMIT="300", RANDOM_PRESETS="200",
               TRAIN_SECONDS="5", EPOCHS="1", ITEMS="6", BUDGET="0.2", OOD="0", WORKERS="2",
               PATCHFLOW=str(Path(sys.executable).parent / "patchflow"))
    done = subprocess.run(["bash", str(ROOT / "scripts" / "quality.sh")], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "report" / "results.json").read_text())
    rows = results["summary"]
    expected = {"Mean (train)", "Retrieval (NN log-mel)", "Retrieval + refinement", "cnn", "flow_post", "flow_gen",
                "cnn + refinement", "flow_post + refinement", "flow_gen + refinement"}
    assert expected <= set(rows), sorted(rows)
    for name in expected:
        test = rows[name]["test"]
        assert AUDIO_METRICS <= set(test), (name, sorted(test))
        items = test["sc"]["n"] + test["sc"]["n_nonfinite"]
        assert 0 < items <= 6 and all(test[m]["n"] + test[m]["n_nonfinite"] == items for m in AUDIO_METRICS)
        assert all({"ci_low", "ci_high"} <= set(test[m]) for m in AUDIO_METRICS), test["sc"]
    config = json.loads((out / "runs" / "flow_post" / "config.json").read_text())
    assert config["preset"] == "cpu" and config["model"]["classify_steps"] == 100
    assert config["model"]["ae_encoder"] == "sequence" and config["beta_max"] == config["model"]["recon_weight"]
    assert "quality: build" in done.stdout
    print(done.stdout.splitlines()[-1])
