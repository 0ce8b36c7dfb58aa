"""`make demo` at a tiny size (scripts/demo.sh): every step runs on the real corpus and engine, the report holds
the model's rows beside every reference row, the voice-by-voice comparison of the search rows is printed, the
matches are written, and a second run picks up the finished store and run instead of starting over. The numbers
are not asserted; the quickstart's come from the full demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from patchflow.data.store import open_store

ROOT = Path(__file__).resolve().parents[1]


def run_demo(shared_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SHARED=str(shared_dir), OUT=str(out), DEMO_LIMIT="150", DEMO_PERTURBED="100",
               DEMO_RANDOM="50",
               DEMO_EPOCHS="1", DEMO_ITEMS="4", DEMO_BUDGET="0.2",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_demo_runs_end_to_end_at_a_tiny_size_and_resumes(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = run_demo(shared_dir, out)
    rows = json.loads((out / "report" / "results.json").read_text())["summary"]
    expected = {"Mean (train)", "Retrieval (NN log-mel)", "Retrieval + refinement", "flow_gen", "flow_gen + retrieval",
                "flow_gen + refinement"}
    assert expected <= set(rows), sorted(rows)
    assert all(0 < rows[name]["test"]["sc"]["n"] <= 4 for name in expected)
    config = json.loads((out / "runs" / "flow_gen" / "config.json").read_text())
    assert config["preset"] == "cpu" and config["epochs"] == 1
    assert "| metric | A: flow_gen + refinement | B: Retrieval + refinement |" in first.stdout
    kinds = {source.partition("#")[0] for source in open_store(out / "dx7-16.zarr").sources}
    assert {"perturbed", "random"} <= kinds, sorted(kinds)  # both synthetic kinds were rendered beside the voices
    for path in ("first-voice.wav", "target.wav", "match/match.syx", "match-trumpet/match.syx",
                 "match-trumpet/candidates.syx"):
        assert (out / path).is_file(), path
    metrics = (out / "runs" / "flow_gen" / "metrics.csv").read_text()

    second = run_demo(shared_dir, out)  # the store and the run are finished: nothing is rendered or trained again
    assert f"{out / 'dx7-16.zarr'} is already built with these options" in second.stdout + second.stderr
    assert (out / "runs" / "flow_gen" / "metrics.csv").read_text() == metrics  # no epoch added or redone
    assert "| metric | A: flow_gen + refinement | B: Retrieval + refinement |" in second.stdout
