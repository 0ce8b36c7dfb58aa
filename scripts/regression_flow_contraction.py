#!/usr/bin/env python
"""How much a run's regression flow contracts, and whether its inverse gives presets back.

The method's models map a latent code ``z`` to parameters ``v = f(z)`` through an invertible flow, so that
``f^{-1}`` places any preset in the latent space (explore, interpolate, macro-knobs). For each run this script
measures, on the test voices of a store:

* **log|det df/dz|** at the encoder's codes of the voices' log-mels (median over voices, and per dimension): how
  much the flow shrinks volume. ``-7`` per dimension means each direction is shrunk about 1,100 times;
* the **spread** of the predictions (standard deviation of each parameter over the voices, averaged) against the
  spread of the voices' own parameters: a flow that shrinks everything predicts nearly one preset for all;
* the **inverse**: the share of voices whose code ``f^{-1}(v)`` is finite and decodes to the voice's native values
  (the round trip ``latent_of_preset`` checks), and the median norm of those codes against the encoder's.

Example::

    python scripts/regression_flow_contraction.py --data build/pretrained/dx7-16.zarr \\
        adapters/dexed/patchflow_dexed/pretrained runs/logdet1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from patchflow.data.store import open_store
from patchflow.runtime import load_run
from patchflow.runtime.inference import normalised_mel, params_from_latent


def contraction(run_dir: Path, store, count: int) -> dict[str, float]:
    """The figures of one run on the first ``count`` test voices of ``store``."""
    run = load_run(run_dir)
    model = run.model
    model.eval()
    if not hasattr(model, "regression_flow"):
        raise SystemExit(f"{run_dir}: {run.config.model.name} has no regression flow")
    rows = store.split_indices("test")[:count]
    params = store.read_rows("params", rows, np.float64)
    mels = store.read_rows("mel", rows, np.float32)
    table = run.parameters
    with torch.no_grad():
        codes = torch.cat([model.encode(normalised_mel(run, torch.as_tensor(mels[i:i + 64])))
                           for i in range(0, len(mels), 64)])
        predicted, logdet = model.regression_flow(codes)
        inverse = model.latent_from_params(torch.as_tensor(params, dtype=torch.float32))
    finite = torch.isfinite(inverse).all(dim=1).numpy()
    back = table.to_native(params_from_latent(run, torch.nan_to_num(inverse), classify=False))
    round_trip = finite & np.all(back == table.to_native(params), axis=1)
    norms = inverse.double().norm(dim=1).numpy()  # float64: codes of norm 1e19 overflow a float32 square
    return {
        "voices": len(rows),
        "logdet": float(logdet.median()),
        "logdet_per_dim": float(logdet.median()) / codes.shape[1],
        "spread": float(predicted.std(dim=0).mean()),
        "data_spread": float(params.std(axis=0).mean()),
        "inverse_finite": float(finite.mean()),
        "round_trip": float(round_trip.mean()),
        "inverse_norm": float(np.median(norms[finite])) if finite.any() else float("inf"),
        "encoder_norm": float(codes.norm(dim=1).median()),
        "logdet_weight": float(getattr(model.regression_flow, "logdet_weight", 0.0)),
        "inverse_weight": float(getattr(run.config.model, "regression_inverse_weight", 0.0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="Run directories of flow models.")
    parser.add_argument("--data", type=Path, required=True, help="The store whose test voices are measured.")
    parser.add_argument("--count", type=int, default=300, help="Test voices (default 300).")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    store = open_store(args.data)
    print("| run | logdet weight | inverse weight | log\\|det df/dz\\| (per dim) | prediction spread / voices' | "
          "inverse finite | round trip | inverse code norm / encoder's |")
    print("|---|---|---|---|---|---|---|---|")
    for run_dir in args.runs:
        f = contraction(run_dir, store, args.count)
        print(f"| {run_dir} | {f['logdet_weight']:g} | {f['inverse_weight']:g} | {f['logdet']:.1f} "
              f"({f['logdet_per_dim']:.2f}) | "
              f"{f['spread']:.3f} / {f['data_spread']:.3f} | {f['inverse_finite']:.0%} | {f['round_trip']:.0%} | "
              f"{f['inverse_norm']:.3g} / {f['encoder_norm']:.3g} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
