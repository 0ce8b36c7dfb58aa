"""Flows that learn: density fitting, the regression flow, the disentangling flow, tracing for export."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from patchflow.flows import IAF, MAF, DisentanglingFlow, RegressionFlow

MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]])


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors train fastest on one thread (and do not fight other processes for the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def target() -> torch.distributions.MultivariateNormal:
    """A correlated 2-D Gaussian with a known log-density."""
    return torch.distributions.MultivariateNormal(MEAN, COV)


def test_maf_fitted_on_known_density_recovers_its_log_likelihood() -> None:
    torch.manual_seed(0)
    data = target().sample((4096,))
    maf = MAF(2, steps=4, hidden=(32, 32))
    opt = torch.optim.Adam(maf.parameters(), lr=5e-3)
    for _ in range(300):
        batch = data[torch.randint(0, len(data), (256,))]
        loss = -maf.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = target().sample((2000,))
    with torch.no_grad():
        fitted = maf.log_prob(test).mean()
        exact = target().log_prob(test).mean()
        samples = maf.sample(4000)
    assert abs(fitted - exact) < 0.05, (fitted, exact)
    torch.testing.assert_close(samples.mean(0), MEAN, atol=0.1, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), COV, atol=0.15, rtol=0)


def test_iaf_trained_by_reverse_kl_matches_target_moments() -> None:
    torch.manual_seed(0)
    iaf = IAF(2, steps=4, hidden=(32, 32))
    opt = torch.optim.Adam(iaf.parameters(), lr=5e-3)
    for _ in range(300):
        z, log_q = iaf.rsample_and_log_prob(256)
        loss = (log_q - target().log_prob(z)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z, log_q = iaf.rsample_and_log_prob(4000)
        kl = (log_q - target().log_prob(z)).mean()
        torch.testing.assert_close(iaf.log_prob(z[:100]), log_q[:100], atol=1e-4, rtol=1e-4)
    assert kl < 0.02
    torch.testing.assert_close(z.mean(0), MEAN, atol=0.1, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), COV, atol=0.15, rtol=0)


def test_conditional_iaf_and_maf_agree_on_log_prob() -> None:
    torch.manual_seed(0)
    ctx = torch.randn(6, 4)
    iaf, maf = IAF(3, steps=3, hidden=(16,), context_dim=4), MAF(3, steps=3, hidden=(16,), context_dim=4)
    with torch.no_grad():
        z, log_q = iaf.rsample_and_log_prob(context=ctx)
        torch.testing.assert_close(iaf.log_prob(z, ctx), log_q, atol=1e-5, rtol=1e-5)
        x = maf.sample(context=ctx)
        u, logdet = maf(x, ctx)
        expected = -0.5 * (u.square().sum(1) + 3 * math.log(2 * math.pi)) + logdet
        torch.testing.assert_close(maf.log_prob(x, ctx), expected)
    with pytest.raises(ValueError, match="does not match"):
        iaf.sample(5, context=ctx)
    with pytest.raises(ValueError, match="positive number"):
        MAF(3).sample()


def _known_map(z: torch.Tensor) -> torch.Tensor:
    """Parameters in (0, 1) from latents: a fixed smooth non-linear map."""
    weight = torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.0, -1.0, 0.3, 0.0], [0.2, 0.0, 0.8, 0.0], [0.0, 0.0, 0.0, 1.5]])
    return torch.sigmoid(z @ weight.T + 0.3 * torch.tanh(z[:, :1]))


@pytest.mark.parametrize("variant", ["post", "cond"])
def test_regression_flow_nll_decreases_when_fitting_a_known_map(variant: str) -> None:
    torch.manual_seed(0)
    reg = RegressionFlow(4, steps=4, hidden=(32, 32), variant=variant)
    opt = torch.optim.Adam(reg.parameters(), lr=3e-3)
    z_test = torch.randn(512, 4)
    v_test = _known_map(z_test)

    def evaluate() -> tuple[float, float]:
        reg.eval()
        with torch.no_grad():
            nll = reg.nll(z_test, v_test).mean().item()
            mse = (reg(z_test)[0] - v_test).square().mean().item()
        reg.train()
        return nll, mse

    nll_before, mse_before = evaluate()
    for _ in range(250):
        z = torch.randn(256, 4)
        loss = reg.nll(z, _known_map(z)).mean() + reg.kl() / 10_000
        opt.zero_grad()
        loss.backward()
        opt.step()
    nll_after, mse_after = evaluate()
    assert nll_after < nll_before - 1.0, (nll_before, nll_after)
    assert mse_after < 0.25 * mse_before, (mse_before, mse_after)
    assert (reg.log_precision > 0).all()  # the learned precisions grew as the fit improved
    if variant == "post":
        assert reg.kl().item() == 0.0
    else:
        assert reg.kl().item() > 0.0


def test_the_inverse_error_keeps_a_noisy_regression_from_collapsing() -> None:
    """When the latent says little about the parameters (here half of ``v``'s variance is noise), the forward
    likelihood alone pulls every prediction toward the mean, and the inverse of the parameters lands far from the
    codes they came with; adding :meth:`RegressionFlow.inverse_error` keeps both the codes and the spread."""
    results = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        reg = RegressionFlow(4, steps=4, hidden=(32, 32))
        opt = torch.optim.Adam(reg.parameters(), lr=3e-3)
        for _ in range(300):
            z = torch.randn(256, 4)
            v = (_known_map(z) + 0.25 * torch.randn(256, 4)).clamp(0.0, 1.0)
            loss = reg.nll(z, v).mean() + weight * reg.inverse_error(z, v).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        z = torch.randn(1024, 4)
        v = (_known_map(z) + 0.25 * torch.randn(1024, 4)).clamp(0.0, 1.0)
        with torch.no_grad():
            results[weight] = (reg.inverse_error(z, v).mean().item(), reg(z)[0].std(dim=0).mean().item())
    (plain_error, plain_spread), (two_way_error, two_way_spread) = results[0.0], results[1.0]
    assert two_way_error < 0.5 * plain_error, results
    assert two_way_spread > plain_spread, results
    torch.manual_seed(0)
    exact = RegressionFlow(4, steps=2, hidden=(16,))
    z = torch.randn(8, 4)
    with torch.no_grad():
        assert exact.inverse_error(z, exact(z)[0], margin=0.0).max().item() < 1e-8
    with pytest.raises(ValueError, match="same shape"):
        exact.inverse_error(torch.randn(4, 4), torch.rand(5, 4))


def test_regression_flow_inverse_handles_boundaries_and_cond_sampling() -> None:
    torch.manual_seed(0)
    reg = RegressionFlow(3, steps=4, hidden=(16,), variant="cond")
    v = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]])
    z, logdet = reg.inverse(v)
    assert z.isfinite().all() and logdet.isfinite().all()
    z = torch.randn(8, 3)
    reg.train()
    assert not torch.equal(reg(z)[0], reg(z)[0])  # training draws new flow weights each call
    reg.eval()
    torch.testing.assert_close(reg(z)[0], reg(z)[0])
    with pytest.raises(ValueError, match="same shape"):
        reg.nll(torch.randn(4, 3), torch.rand(5, 3))
    with pytest.raises(ValueError, match="variant"):
        RegressionFlow(3, variant="bayes")  # type: ignore[arg-type]


def test_disentangling_loss_pushes_tagged_samples_to_their_sides() -> None:
    torch.manual_seed(0)
    dis = DisentanglingFlow(4, n_pairs=2, steps=4, hidden=(32, 32), mu_star=2.0, pair_dims=[0, 3])
    opt = torch.optim.Adam(dis.parameters(), lr=3e-3)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, 4)
        # the pair information lives in other latent dimensions; the flow must move it onto dims 0 and 3
        tags = torch.stack([torch.sign(z[:, 1]), torch.sign(z[:, 2])], dim=1).long()
        unknown = torch.rand(n, 2) < 0.3
        return z, tags.masked_fill(unknown, 0)

    z_test, tags_test = batch(1000)
    with torch.no_grad():
        loss_before = dis.loss(z_test, tags_test).mean()
    for _ in range(300):
        z, tags = batch(256)
        loss = dis.loss(z, tags).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss_after = dis.loss(z_test, tags_test).mean()
        z_prime, _ = dis(z_test)
    assert loss_after < loss_before - 1.0
    for pair, dim in enumerate([0, 3]):
        side = z_prime[:, dim]
        assert side[tags_test[:, pair] == 1].mean() > 1.0
        assert side[tags_test[:, pair] == -1].mean() < -1.0
    with pytest.raises(ValueError, match="only contain"):
        dis.loss(z_test[:2], torch.tensor([[2, 0], [0, 0]]))
    with pytest.raises(ValueError, match="shape"):
        dis.loss(z_test[:2], torch.zeros(2, 3))
    with pytest.raises(ValueError, match="distinct"):
        DisentanglingFlow(4, n_pairs=2, pair_dims=[1, 1])


@pytest.mark.parametrize("build", [lambda: IAF(6, steps=4, hidden=(16,), context_dim=2), lambda: RegressionFlow(6)])
def test_flows_export_with_torch_jit_trace(build) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    flow = build().eval()
    args = (torch.randn(4, 6),) + ((torch.randn(4, 2),) if flow.context_dim else ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 steers towards torch.export
        traced = torch.jit.trace(flow, args)
    new = (torch.randn(9, 6),) + ((torch.randn(9, 2),) if flow.context_dim else ())
    for eager, exported in zip(flow(*new), traced(*new)):
        torch.testing.assert_close(exported, eager)


@pytest.mark.parametrize("build", [lambda: IAF(4, steps=2, hidden=(16,)), lambda: RegressionFlow(4, steps=2)])
def test_flows_capture_as_one_graph_with_torch_compile(build) -> None:  # noqa: ANN001
    """Both directions compile with ``fullgraph=True`` (no graph breaks); the eager backend keeps this fast."""
    torch.manual_seed(0)
    flow = build().eval()
    z = torch.randn(5, 4)
    torch._dynamo.reset()
    with torch.no_grad():
        v, logdet = torch.compile(flow, fullgraph=True, backend="eager")(z)
        z_back, logdet_back = torch.compile(flow.inverse, fullgraph=True, backend="eager")(v)
    torch.testing.assert_close(v, flow(z)[0])
    torch.testing.assert_close(z_back, z, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logdet + logdet_back, torch.zeros(5), atol=1e-4, rtol=0)
