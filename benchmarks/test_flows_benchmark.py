"""Flow throughput, patchflow against zuko configured as the same architecture, measured side by side.

Every line is a flow of 16 affine autoregressive steps with (64, 64) hidden MADE conditioners, at dims 16, 32, 64
and batches 64 and 1024 by default. zuko runs first, patchflow right after it on the same workload, and the patchflow line
stores ``samples_per_s`` and ``ratio`` (patchflow / zuko) in ``extra_info``; the conftest prints the table.

Sizes (environment variables, comma-separated integers; the defaults above are small enough for CI):
    PATCHFLOW_BENCH_FLOW_DIMS: dimensions of the flows (default ``16,32,64``).
    PATCHFLOW_BENCH_FLOW_BATCHES: batch sizes (default ``64,1024``).
    PATCHFLOW_BENCH_FLOW_STEPS: autoregressive steps per flow (default ``16``).
    PATCHFLOW_BENCH_FLOW_HIDDEN: hidden layer widths of each conditioner (default ``64,64``).

For example ``PATCHFLOW_BENCH_FLOW_DIMS=64,128 PATCHFLOW_BENCH_FLOW_BATCHES=4096 pytest benchmarks --benchmark-only
-k flows``. Steps and hidden widths other than the defaults are recorded in ``extra_info`` (dims and batches are in
the test ids).

Operations:
    iaf_sample: draw samples through the fast direction of an IAF (zuko: ``Flow(maf.transform.inv, maf.base)``).
    maf_log_prob: log-density of data under a MAF (fast direction).
    maf_sample: draw samples from a MAF (the inverse: one pass per feature and step).
    iaf_train: reparameterised samples and their log-density, backward, Adam step (the VAE flow posterior).
    maf_train: log-density of a data batch, backward, Adam step (density fitting).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch
import zuko

from patchflow.flows import IAF, MAF


def _sizes(variable: str, default: str, *, single: bool = False) -> tuple[int, ...]:
    """The positive integers of a comma-separated environment variable (``default`` when unset)."""
    text = os.environ.get(variable, "").strip() or default
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1 or (single and len(sizes) != 1):
        expected = "one positive integer" if single else "positive integers separated by commas"
        raise pytest.UsageError(f"{variable}={text!r}: expected {expected}, e.g. {default}")
    return sizes


DEFAULT_STEPS, DEFAULT_HIDDEN = 16, (64, 64)
DIMS = _sizes("PATCHFLOW_BENCH_FLOW_DIMS", "16,32,64")
BATCHES = _sizes("PATCHFLOW_BENCH_FLOW_BATCHES", "64,1024")
(STEPS,) = _sizes("PATCHFLOW_BENCH_FLOW_STEPS", str(DEFAULT_STEPS), single=True)
HIDDEN = _sizes("PATCHFLOW_BENCH_FLOW_HIDDEN", ",".join(map(str, DEFAULT_HIDDEN)))
OPERATIONS = ["iaf_sample", "maf_log_prob", "maf_sample", "iaf_train", "maf_train"]
_zuko_samples_per_s: dict[tuple[str, int, int], float] = {}


def _zuko_workload(op: str, dim: int, batch: int) -> Callable[[], object]:
    maf = zuko.flows.MAF(dim, transforms=STEPS, hidden_features=HIDDEN)
    iaf = zuko.flows.Flow(maf.transform.inv, maf.base)
    data = torch.randn(batch, dim)
    if op == "iaf_sample":
        return torch.no_grad()(lambda: iaf().sample((batch,)))
    if op == "maf_log_prob":
        return torch.no_grad()(lambda: maf().log_prob(data))
    if op == "maf_sample":
        return torch.no_grad()(lambda: maf().sample((batch,)))
    flow = iaf if op == "iaf_train" else maf
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4)

    def train_step() -> None:
        if op == "iaf_train":
            _, log_q = iaf().rsample_and_log_prob((batch,))
            loss = log_q.mean()
        else:
            loss = -maf().log_prob(data).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return train_step


def _patchflow_workload(op: str, dim: int, batch: int) -> Callable[[], object]:
    iaf, maf = IAF(dim, steps=STEPS, hidden=HIDDEN), MAF(dim, steps=STEPS, hidden=HIDDEN)
    data = torch.randn(batch, dim)
    if op == "iaf_sample":
        return torch.no_grad()(lambda: iaf.sample(batch))
    if op == "maf_log_prob":
        return torch.no_grad()(lambda: maf.log_prob(data))
    if op == "maf_sample":
        return torch.no_grad()(lambda: maf.sample(batch))
    flow = iaf if op == "iaf_train" else maf
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4)

    def train_step() -> None:
        if op == "iaf_train":
            _, log_q = iaf.rsample_and_log_prob(batch)
            loss = log_q.mean()
        else:
            loss = -maf.log_prob(data).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return train_step


@pytest.mark.parametrize("library", ["zuko", "patchflow"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("op", OPERATIONS)
def test_flow_throughput(benchmark, op: str, dim: int, batch: int, library: str) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    workload = (_zuko_workload if library == "zuko" else _patchflow_workload)(op, dim, batch)
    benchmark.group = f"flows {op} d={dim} B={batch}"
    benchmark.extra_info.update(op=op, dim=dim, batch=batch, library=library, threads=torch.get_num_threads())
    if (STEPS, HIDDEN) != (DEFAULT_STEPS, DEFAULT_HIDDEN):
        benchmark.extra_info.update(steps=STEPS, hidden=list(HIDDEN))
    if op == "maf_sample":  # one pass per feature and step: a few rounds are plenty
        benchmark.pedantic(workload, rounds=3, warmup_rounds=1)
    else:
        benchmark(workload)
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: ran once for correctness only
        return
    samples_per_s = batch / stats.stats.median
    benchmark.extra_info["samples_per_s"] = round(samples_per_s, 1)
    key = (op, dim, batch)
    if library == "zuko":
        _zuko_samples_per_s[key] = samples_per_s
    elif key in _zuko_samples_per_s:
        benchmark.extra_info["zuko_samples_per_s"] = round(_zuko_samples_per_s[key], 1)
        benchmark.extra_info["ratio"] = round(samples_per_s / _zuko_samples_per_s[key], 2)
