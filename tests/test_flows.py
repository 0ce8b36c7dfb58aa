"""Every flow block against the same checks: exact inverse, log-det vs autograd, gradients, errors, save/load."""

from __future__ import annotations

import doctest
import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from patchflow.flow import Flow
from patchflow.flows import (
    IAF,
    MAF,
    ActNorm,
    AffineCoupling,
    BatchNormFlow,
    ConditionalAffine,
    DisentanglingFlow,
    FlowSequence,
    Inverse,
    Logit,
    MaskedAffineAutoregressive,
    Permutation,
    RegressionFlow,
    Reverse,
    Sigmoid,
)

DIM, CONTEXT = 5, 3


@dataclass
class Case:
    """A flow factory, its context size and how to draw valid inputs."""

    build: Callable[[], Flow]
    context_dim: int = 0
    unit_interval: bool = False  # inputs must lie in (0, 1)


def _batchnorm() -> BatchNormFlow:
    flow = BatchNormFlow(DIM)
    flow(torch.randn(64, DIM) * 2 + 1)  # populate running statistics
    return flow


CASES = {
    "made": Case(lambda: MaskedAffineAutoregressive(DIM, hidden=(16, 16))),
    "made-order-context": Case(
        lambda: MaskedAffineAutoregressive(DIM, hidden=(16,), context_dim=CONTEXT, order=[3, 0, 4, 1, 2]), CONTEXT
    ),
    "iaf16": Case(lambda: IAF(DIM, steps=16, hidden=(16, 16))),
    "maf16-context": Case(lambda: MAF(DIM, steps=16, hidden=(16, 16), context_dim=CONTEXT), CONTEXT),
    "coupling": Case(lambda: AffineCoupling(DIM, hidden=(16, 16))),
    "coupling-odd-context": Case(lambda: AffineCoupling(DIM, hidden=(16,), context_dim=CONTEXT, parity=1), CONTEXT),
    "conditional-affine": Case(lambda: ConditionalAffine(DIM, CONTEXT, hidden=(16,)), CONTEXT),
    "conditional-affine-linear": Case(lambda: ConditionalAffine(DIM, CONTEXT, hidden=()), CONTEXT),
    "conditional-affine-maf": Case(
        lambda: FlowSequence(ConditionalAffine(DIM, CONTEXT, hidden=(16,)),
                             MAF(DIM, steps=4, hidden=(16,), context_dim=CONTEXT)), CONTEXT
    ),
    "permutation": Case(lambda: Permutation(DIM, [2, 0, 1, 4, 3])),
    "reverse": Case(lambda: Reverse(DIM)),
    "actnorm": Case(lambda: ActNorm(DIM)),
    "batchnorm": Case(_batchnorm),
    "sigmoid": Case(lambda: Sigmoid(DIM)),
    "logit": Case(lambda: Logit(DIM), unit_interval=True),
    "sequence16": Case(
        lambda: FlowSequence(
            *[
                m
                for _ in range(4)
                for m in (ActNorm(DIM), MaskedAffineAutoregressive(DIM, hidden=(16,), context_dim=CONTEXT),
                          Reverse(DIM), AffineCoupling(DIM, hidden=(16,)))
            ]
        ),
        CONTEXT,
    ),
    "inverse-iaf": Case(lambda: Inverse(IAF(DIM, steps=3, hidden=(16,)))),
    "regression-post": Case(lambda: RegressionFlow(DIM, steps=16, hidden=(16, 16))),
    "regression-cond": Case(lambda: RegressionFlow(DIM, steps=4, hidden=(16,), variant="cond")),
    "disentangling": Case(lambda: DisentanglingFlow(DIM, n_pairs=2, steps=4, hidden=(16,))),
}


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors run fastest on one thread (and do not fight other processes for the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(case: Case, dtype: torch.dtype) -> Flow:
    """Build the flow, perturb every parameter so the map is far from identity, switch to eval mode."""
    torch.manual_seed(0)
    flow = case.build().to(dtype)
    flow.train()
    with torch.no_grad():
        for name, p in flow.named_parameters():
            if "rho" not in name:
                p.add_(0.02 * torch.randn_like(p))
    flow(*inputs(case, 8, dtype))  # ActNorm data-dependent initialisation
    return flow.eval()


def inputs(case: Case, batch: int, dtype: torch.dtype, seed: int = 1) -> tuple[torch.Tensor, ...]:
    """Valid ``(x,)`` or ``(x, context)`` for a case."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, DIM, generator=g, dtype=dtype) * 0.98 + 0.01 if case.unit_interval else torch.randn(
        batch, DIM, generator=g, dtype=dtype
    )
    if case.context_dim:
        return x, torch.randn(batch, case.context_dim, generator=g, dtype=dtype)
    return (x,)


@pytest.fixture(params=sorted(CASES), name="case")
def case_fixture(request: pytest.FixtureRequest) -> Case:
    """Each flow block in turn."""
    return CASES[request.param]


def test_inverse_undoes_forward_float64(case: Case) -> None:
    flow = make(case, torch.float64)
    x, *ctx = inputs(case, 32, torch.float64)
    y, logdet = flow(x, *ctx)
    assert y.shape == x.shape and logdet.shape == (32,)
    assert not torch.allclose(y, x)  # the map is not the identity (except pure permutations reorder)
    x_back, logdet_back = flow.inverse(y, *ctx)
    torch.testing.assert_close(x_back, x, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(logdet + logdet_back, torch.zeros_like(logdet), atol=1e-9, rtol=0)


def test_inverse_undoes_forward_float32(case: Case) -> None:
    flow = make(case, torch.float32)
    x, *ctx = inputs(case, 64, torch.float32)
    y, logdet = flow(x, *ctx)
    x_back, logdet_back = flow.inverse(y, *ctx)
    torch.testing.assert_close(x_back, x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logdet + logdet_back, torch.zeros_like(logdet), atol=1e-3, rtol=0)


def test_logdet_matches_autograd_jacobian(case: Case) -> None:
    flow = make(case, torch.float64)
    x, *ctx = inputs(case, 3, torch.float64)
    _, logdet = flow(x, *ctx)
    _, inv_logdet = flow.inverse(x if case.unit_interval or not isinstance(flow, Sigmoid) else torch.sigmoid(x),
                                 *ctx)
    for i in range(3):
        c = [t[i : i + 1] for t in ctx]
        jac = torch.autograd.functional.jacobian(lambda a: flow(a[None], *c)[0][0], x[i])
        torch.testing.assert_close(torch.linalg.slogdet(jac)[1], logdet[i], atol=1e-8, rtol=1e-8)
    assert inv_logdet.isfinite().all()


def test_gradients_finite_on_extreme_inputs(case: Case) -> None:
    flow = make(case, torch.float64).train()
    x, *ctx = inputs(case, 16, torch.float64)
    if case.unit_interval:
        x = torch.where(x > 0.5, torch.ones_like(x) - 1e-12, torch.full_like(x, 1e-12))
    else:
        x = x.sign() * 1e3
    x.requires_grad_(True)
    y, logdet = flow(x, *ctx)
    (y.sum() + logdet.sum()).backward()
    assert x.grad is not None and x.grad.isfinite().all()
    for name, p in flow.named_parameters():
        assert p.grad is None or p.grad.isfinite().all(), name


def test_state_dict_round_trip(case: Case) -> None:
    flow = make(case, torch.float64)
    buffer = io.BytesIO()
    torch.save(flow.state_dict(), buffer)
    torch.manual_seed(123)
    fresh = case.build().to(torch.float64).eval()
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    x, *ctx = inputs(case, 8, torch.float64)
    for a, b in zip(flow(x, *ctx), fresh(x, *ctx)):
        torch.testing.assert_close(a, b)


def test_wrong_inputs_give_clear_errors(case: Case) -> None:
    flow = make(case, torch.float64)
    x, *ctx = inputs(case, 4, torch.float64)
    with pytest.raises(ValueError, match=r"shape \(batch, 5\)"):
        flow(x[:, :3], *ctx)
    with pytest.raises(ValueError, match="shape"):
        flow(x[0], *ctx)
    with pytest.raises(TypeError, match="floating-point"):
        flow(torch.ones(4, DIM, dtype=torch.long), *ctx)
    with pytest.raises(TypeError):
        flow(x.numpy(), *ctx)  # type: ignore[arg-type]
    if any(True for _ in flow.parameters()):
        with pytest.raises(TypeError, match="dtype"):
            flow(x.float(), *[c.float() for c in ctx])
    if case.context_dim:
        with pytest.raises(ValueError, match="context"):
            flow(x)
        with pytest.raises(ValueError, match="context"):
            flow(x, ctx[0][:, :1])
    else:
        with pytest.raises(TypeError, match="context"):
            flow(x, torch.zeros(4, 2, dtype=torch.float64))


def test_masked_autoregressive_jacobian_is_triangular_in_its_order() -> None:
    order = [3, 0, 4, 1, 2]
    flow = make(Case(lambda: MaskedAffineAutoregressive(DIM, hidden=(16, 16), order=order)), torch.float64)
    jac = torch.autograd.functional.jacobian(lambda a: flow(a[None])[0][0], torch.randn(DIM, dtype=torch.float64))
    for i in range(DIM):
        for j in range(DIM):
            if i != j and order[j] >= order[i]:
                assert jac[i, j] == 0, (i, j)
    assert (jac.abs() > 0).sum() > DIM  # there are off-diagonal dependencies


def test_invalid_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="permutation"):
        MaskedAffineAutoregressive(3, order=[0, 0, 1])
    with pytest.raises(ValueError, match="hidden"):
        IAF(3, hidden=())
    with pytest.raises(ValueError, match="steps"):
        MAF(3, steps=0)
    with pytest.raises(ValueError, match="permutation"):
        Permutation(3, [0, 1])
    with pytest.raises(ValueError, match="dim >= 2"):
        AffineCoupling(1)
    with pytest.raises(ValueError, match="share one dim"):
        FlowSequence(Reverse(2), Reverse(3))
    with pytest.raises(ValueError, match="dim must be positive"):
        IAF(0)
    with pytest.raises(ValueError, match="needs a context"):
        ConditionalAffine(3, context_dim=0)
    with pytest.raises(ValueError, match="hidden widths"):
        ConditionalAffine(3, context_dim=2, hidden=(0,))


def test_conditional_affine_conditions_every_feature_where_a_made_leaves_the_first_one_alone() -> None:
    """A MADE's first feature (in its order) gets a shift and scale that ignore the context; a one-dimensional
    conditional MAF is not conditional at all. ConditionalAffine moves every feature with the context."""
    torch.manual_seed(0)
    maf = MAF(1, steps=4, hidden=(16,), context_dim=2)
    affine = ConditionalAffine(1, context_dim=2, hidden=(16,))
    with torch.no_grad():
        for p in [*maf.parameters(), *affine.parameters()]:
            p.normal_()
    x, contexts = torch.zeros(2, 1), torch.randn(2, 2)
    maf_out, affine_out = maf(x, contexts)[0], affine(x, contexts)[0]
    assert maf_out[0] == maf_out[1]
    assert affine_out[0] != affine_out[1]


@pytest.mark.parametrize(
    "module",
    ["made", "autoregressive", "coupling", "conditional", "normalization", "elementwise", "sequence", "regression",
     "disentangling"],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"patchflow.flows.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


def test_autograd_gradients_match_finite_differences_both_directions() -> None:
    torch.manual_seed(0)
    flow = IAF(3, steps=2, hidden=(8, 8), context_dim=2).double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    context = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: flow(a, c), (x, context))
    assert torch.autograd.gradcheck(lambda a, c: flow.inverse(a, c), (x, context))
