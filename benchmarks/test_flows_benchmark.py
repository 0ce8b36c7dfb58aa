"""Flow throughput, patchflow against zuko configured as the same architecture, measured side by side.

Every line is a flow of 16 affine autoregressive steps with (64, 64) hidden MADE conditioners, at dims 16, 32, 64
and batches 64 and 1024 by default. zuko runs first, patchflow right after it on the same workload, and the patchflow line
stores ``samples_per_s`` and ``ratio`` (patchflow / zuko) in ``extra_info``; the conftest prints the table.

Sizes (environment variables, comma-separated integers; the defaults above are small enough for CI):
    PATCHFLOW_BENCH_FLOW_DIMS: dimensions of the flows (default ``16,32,64``).
    PATCHFLOW_BENCH_FLOW_BATCHES: batch sizes (default ``64,1024``).
    PATCHFLOW_BENCH_FLOW_STEPS: autoregressive steps per flow (default ``16``).
    PATCHFLOW_BENCH_FLOW_HIDDEN: hidden layer widths of each conditioner (default ``64,64``).
    PATCHFLOW_BENCH_CONDITIONAL_DIMS: dimensions of the conditional workloads ``cmaf_*`` (default ``16``, the
        size of ``flow_gen``'s flow on 16 parameters).

For example ``PATCHFLOW_BENCH_FLOW_DIMS=64,128 PATCHFLOW_BENCH_FLOW_BATCHES=4096 pytest benchmarks --benchmark-only
-k flows``. Steps and hidden widths other than the defaults are recorded in ``extra_info`` (dims and batches are in
the test ids).

Operations:
    iaf_sample: draw samples through the fast direction of an IAF (zuko: ``Flow(maf.transform.inv, maf.base)``).
    maf_log_prob: log-density of data under a MAF (fast direction).
    maf_sample: draw samples from a MAF (the inverse: one pass per feature and step).
    iaf_train: reparameterised samples and their log-density, backward, Adam step (the VAE flow posterior).
    maf_train: log-density of a data batch, backward, Adam step (density fitting).
    cmaf_log_prob, cmaf_sample, cmaf_train: the same for the conditional flow of ``flow_gen``: a
        :class:`~patchflow.flows.ConditionalAffine` layer (one hidden layer of the first hidden width) before a MAF
        with a context of 32 features, one context row per sample. zuko has no such layer; its equivalent is
        built from zuko's own parts (a ``zuko.nn.MLP`` giving the shift and log-scale of a
        ``zuko.transforms.MonotonicAffineTransform``) in front of ``zuko.flows.MAF(dim, context=32)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch
import zuko

from patchflow.flows import IAF, MAF, ConditionalAffine, FlowSequence, standard_normal_log_prob


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
CONDITIONAL_DIMS = _sizes("PATCHFLOW_BENCH_CONDITIONAL_DIMS", "16")
OPERATIONS = ["iaf_sample", "maf_log_prob", "maf_sample", "iaf_train", "maf_train"]
CONDITIONAL_OPERATIONS = ["cmaf_log_prob", "cmaf_sample", "cmaf_train"]
#: Context features of the conditional workloads (``cmaf_*``).
CONTEXT = 32
_zuko_samples_per_s: dict[tuple[str, int, int], float] = {}


class _ZukoConditionalAffine(zuko.lazy.LazyTransform):
    """zuko's parts as :class:`~patchflow.flows.ConditionalAffine`: an MLP of the context gives the shift and
    log-scale of an element-wise affine transform."""

    def __init__(self, dim: int, context: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.hyper = zuko.nn.MLP(context, 2 * dim, hidden_features=hidden)

    def forward(self, c: torch.Tensor) -> zuko.transforms.Transform:
        shift, log_scale = self.hyper(c).chunk(2, dim=-1)
        return zuko.transforms.MonotonicAffineTransform(shift, log_scale)


def _conditional_workload(op: str, log_prob: Callable, sample: Callable, parameters) -> Callable[[], object]:  # noqa: ANN001
    if op == "cmaf_log_prob":
        return torch.no_grad()(log_prob)
    if op == "cmaf_sample":
        return torch.no_grad()(sample)
    optimizer = torch.optim.Adam(parameters, lr=1e-4)

    def train_step() -> None:
        loss = -log_prob().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return train_step


def _zuko_workload(op: str, dim: int, batch: int) -> Callable[[], object]:
    if op.startswith("cmaf"):
        maf = zuko.flows.MAF(dim, context=CONTEXT, transforms=STEPS, hidden_features=HIDDEN)
        flow = zuko.flows.Flow([_ZukoConditionalAffine(dim, CONTEXT, HIDDEN[:1]), *maf.transform.transforms],
                               maf.base)
        data, context = torch.randn(batch, dim), torch.randn(batch, CONTEXT)
        return _conditional_workload(op, lambda: flow(context).log_prob(data), lambda: flow(context).sample(),
                                     flow.parameters())
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
    if op.startswith("cmaf"):
        flow = FlowSequence(ConditionalAffine(dim, CONTEXT, hidden=HIDDEN[:1]),
                            MAF(dim, steps=STEPS, hidden=HIDDEN, context_dim=CONTEXT))
        data, context = torch.randn(batch, dim), torch.randn(batch, CONTEXT)

        def log_prob() -> torch.Tensor:
            u, logdet = flow(data, context)
            return standard_normal_log_prob(u) + logdet

        return _conditional_workload(op, log_prob, lambda: flow.inverse(torch.randn(batch, dim), context)[0],
                                     flow.parameters())
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
@pytest.mark.parametrize(("op", "dim"), [(op, dim) for op in OPERATIONS for dim in DIMS]
                         + [(op, dim) for op in CONDITIONAL_OPERATIONS for dim in CONDITIONAL_DIMS])
def test_flow_throughput(benchmark, op: str, dim: int, batch: int, library: str) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    workload = (_zuko_workload if library == "zuko" else _patchflow_workload)(op, dim, batch)
    benchmark.group = f"flows {op} d={dim} B={batch}"
    benchmark.extra_info.update(op=op, dim=dim, batch=batch, library=library, threads=torch.get_num_threads())
    if (STEPS, HIDDEN) != (DEFAULT_STEPS, DEFAULT_HIDDEN):
        benchmark.extra_info.update(steps=STEPS, hidden=list(HIDDEN))
    if op in ("maf_sample", "cmaf_sample"):  # one pass per feature and step: a few rounds are plenty
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
