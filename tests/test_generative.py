"""The generative model ``flow_gen`` (``p(v | x)``): an exact likelihood, samples on the parameters' grids, a best
guess that does not depend on the batch, a bimodal target learned as two modes (not their average), and its
samples among the candidates of ``match`` and ``evaluate``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from patchflow.model import SynthModel
from patchflow.models import ModelConfig, ModelConfigError, build_model
from patchflow.models.generative import SQUEEZE, GenerativeFlowModel
from patchflow.runtime.inference import model_samples

SHAPE = (16, 12)
#: Five learned parameters: continuous, 4 classes, continuous, continuous, boolean.
CARDS = [0, 4, 0, 0, 2]


#: Tiny models run faster on one thread than split over two busy cores (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def config(cards=CARDS, **update) -> ModelConfig:
    base = ModelConfig(name="flow_gen", n_params=len(cards), input_shape=SHAPE, cardinalities=cards)
    return base.with_preset("small").model_copy(update={"conv_layers": 2, "conv_channels": 4, **update})


def roughen(model: GenerativeFlowModel, scale: float = 0.1) -> GenerativeFlowModel:
    """Move the flow away from its near-identity start (its last layers start at a hundredth of their scale), so
    that checks of its density mean something."""
    torch.manual_seed(1)
    maf, affine = model.flow.flows[-2:]
    with torch.no_grad():
        maf.weights_of(maf.n_layers - 1).normal_(0.0, scale)
        maf.biases()[-1].normal_(0.0, scale)
        affine.net[-1].weight.normal_(0.0, scale)
    return model.eval()


def random_batch(n: int, cards=CARDS, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    classes = torch.full((n, len(cards)), -1, dtype=torch.long)
    params = torch.rand(n, len(cards), generator=g)
    for col, card in enumerate(cards):
        if card:
            classes[:, col] = torch.randint(0, card, (n,), generator=g)
            params[:, col] = classes[:, col] / (card - 1)
    return {"mel": torch.randn(n, *SHAPE, generator=g), "params": params, "classes": classes}


def test_flow_gen_is_a_registered_model_that_can_sample_and_others_cannot():
    model = build_model(config())
    assert isinstance(model, GenerativeFlowModel) and isinstance(model, SynthModel)
    assert model.can_sample and not model.has_latent
    cnn = build_model(config(name="cnn", conv_channels=8)).eval()
    assert not cnn.can_sample
    mel = random_batch(3)["mel"]
    assert tuple(cnn.sample_params(mel, 5).shape) == (3, 0, len(CARDS))
    assert model_samples(cnn, mel, 5).shape == (3, 0, len(CARDS))
    with pytest.raises(ModelConfigError, match="unknown options"):
        build_model(config(options={"temperature": 0.5}))


def test_the_likelihood_of_a_draw_is_the_one_log_prob_gives_its_parameters():
    model = roughen(build_model(config())).double()
    batch = random_batch(7)
    with torch.no_grad():
        h = model.context(batch["mel"].double())
        gumbel, base = model._noise((7,), torch.Generator().manual_seed(3), h.device)
        params, log_p = model._draw(h, gumbel, base.double())
        discrete, continuous = model.log_prob(batch["mel"].double(), params, torch.full((7, len(CARDS)), -1))
    torch.testing.assert_close(discrete + continuous, log_p, rtol=0, atol=1e-9)


def test_the_density_integrates_to_one_over_classes_and_values():
    """One 3-class and one continuous parameter: the sum over classes of the integral over the flow's support is 1
    (``[0, 1]`` and the logit's margin beyond each end, whose samples are moved to the ends)."""
    model = roughen(build_model(config(cards=[3, 0], options={"dequantise_width": 0.0}))).double()
    margin = SQUEEZE / (1 - 2 * SQUEEZE)
    inner = torch.linspace(1e-9, 1 - 1e-9, 200001, dtype=torch.float64)  # logit(inner) covers +-20
    grid = (inner - SQUEEZE) / (1 - 2 * SQUEEZE)
    assert float(grid[0]) == pytest.approx(-margin, abs=1e-6)
    mel = torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    total = 0.0
    with torch.no_grad():
        for k in range(3):
            params = torch.stack([torch.full_like(grid, k / 2), grid], dim=1)
            discrete, continuous = model.log_prob(mel.expand(len(grid), -1, -1), params,
                                                  torch.full((len(grid), 2), -1))
            total += float(torch.trapezoid(torch.exp(discrete + continuous), grid))
    assert total == pytest.approx(1.0, abs=2e-3)


def test_samples_lie_on_the_class_grids_and_follow_the_seed():
    model = roughen(build_model(config()))
    mel = random_batch(4)["mel"]
    with torch.no_grad():
        a = model.sample_params(mel, 9, torch.Generator().manual_seed(0))
        b = model.sample_params(mel, 9, torch.Generator().manual_seed(0))
        c = model.sample_params(mel, 9, torch.Generator().manual_seed(1))
    assert a.shape == (4, 9, len(CARDS)) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[..., 1] * 3, (a[..., 1] * 3).round()) and set(a[..., 4].unique().tolist()) <= {0.0, 1.0}
    assert len(torch.unique(a[..., 0])) > 30  # continuous draws differ from each other
    assert model.sample_params(mel, 0).shape == (4, 0, len(CARDS))
    drawn = model_samples(model, mel, 9, torch.Generator().manual_seed(0), batch_size=3)
    assert drawn.shape == (4, 9, len(CARDS)) and drawn.dtype == np.float64


def test_dequantised_classes_go_through_the_flow_and_come_back_on_their_grid():
    model = roughen(build_model(config(options={"discrete": "dequantise"})))
    assert not model.classifiers and model.flow.dim == len(CARDS)
    batch = random_batch(8)
    model.train()
    out = model.loss(batch)
    assert torch.isfinite(out["loss"]) and float(out["classes"]) == 0.0
    model.eval()
    with torch.no_grad():
        drawn = model.sample_params(batch["mel"], 20, torch.Generator().manual_seed(0))
        guess = model.predict_params(batch["mel"])
    for params in (drawn.reshape(-1, len(CARDS)), guess):
        assert torch.equal(params[:, 1] * 3, (params[:, 1] * 3).round())
        assert set(params[:, 4].unique().tolist()) <= {0.0, 1.0}
    assert len(torch.unique(drawn[..., 1])) > 1
    with pytest.raises(ModelConfigError, match="discrete must be one of"):
        build_model(config(options={"discrete": "softmax"}))


def test_the_best_guess_is_the_likeliest_candidate_and_ignores_the_batch():
    model = roughen(build_model(config(options={"mode_candidates": 8})))
    batch = random_batch(6)
    with torch.no_grad():
        guess = model.predict_params(batch["mel"])
        alone = torch.cat([model.predict_params(batch["mel"][i:i + 1]) for i in range(6)])
        pair = model.predict_params(batch["mel"][3:5])
        discrete, continuous = model.log_prob(batch["mel"], guess, torch.full((6, len(CARDS)), -1))
        h = model.context(batch["mel"])
        gumbel, base = model._noise((8,), torch.Generator().manual_seed(0), h.device, model.mode_temperature)
        gumbel[0], base[0] = 0.0, 0.0
        _, log_p = model._draw(h.repeat_interleave(8, dim=0), gumbel.repeat(6, 1), base.repeat(6, 1))
    torch.testing.assert_close(alone, guess)
    torch.testing.assert_close(pair, guess[3:5])
    torch.testing.assert_close(discrete + continuous, log_p.reshape(6, 8).max(dim=1).values, atol=1e-4, rtol=0)


def test_a_temperature_draws_the_classes_from_the_sharpened_softmax_and_narrows_the_base():
    """The mode search's noise at temperature T: a class's frequency over many draws is softmax(logits / T), and
    the base points have standard deviation T."""
    model = roughen(build_model(config(cards=[3, 0])))
    mel = random_batch(1, cards=[3, 0])["mel"]
    count, temperature = 40_000, 0.5
    with torch.no_grad():
        h = model.context(mel)
        logits = model.classifiers[0](h)[0].float()
        gumbel, base = model._noise((count,), torch.Generator().manual_seed(0), h.device, temperature)
        params, _ = model._draw(h.repeat(count, 1), gumbel, base)
    frequency = torch.bincount(torch.round(params[:, 0] * 2).long(), minlength=3).double() / count
    expected = torch.softmax(logits.double() / temperature, dim=0)
    torch.testing.assert_close(frequency, expected, atol=0.01, rtol=0)
    assert not torch.allclose(expected, torch.softmax(logits.double(), dim=0), atol=0.02)
    assert abs(float(base.std()) - temperature) < 0.01
    with pytest.raises(ModelConfigError, match="mode_temperature must be positive"):
        build_model(config(options={"mode_temperature": 0}))


def test_a_bimodal_target_is_learned_as_two_modes_not_their_average():
    """The boolean follows the sound; the 4-class parameter is 0 or 3 whatever the sound (never 1 or 2) and the
    continuous value goes with it (0.15 with class 0, 0.85 with class 3). A regressor would answer class 1 or 2
    and 0.5, which is neither."""
    torch.manual_seed(0)
    cards = [0, 4, 2]
    model = build_model(config(cards=cards, flow_steps=4, flow_hidden=(32, 32)))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> dict[str, torch.Tensor]:
        sound = torch.randint(0, 2, (n,), generator=g)
        mel = torch.randn(n, *SHAPE, generator=g) * 0.3 + (2.0 * sound - 1.0)[:, None, None]
        four = 3 * torch.randint(0, 2, (n,), generator=g)
        value = torch.where(four == 0, 0.15, 0.85) + 0.02 * torch.randn(n, generator=g)
        params = torch.stack([value.clamp(0, 1), four / 3, sound.float()], dim=1)
        classes = torch.stack([torch.full((n,), -1), four, sound], dim=1)
        return {"mel": mel, "params": params, "classes": classes}

    model.train()
    for _ in range(200):
        loss = model.loss(batch(64))["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    test = batch(200)
    with torch.no_grad():
        drawn = model.eval().sample_params(test["mel"], 10, torch.Generator().manual_seed(0))
        guess = model.predict_params(test["mel"])
    for params in (drawn.reshape(-1, 3), guess):
        value, four = params[:, 0], (params[:, 1] * 3).round()
        assert float(((four == 0) | (four == 3)).float().mean()) > 0.9
        target = torch.where(four == 0, 0.15, 0.85)
        assert float(((value - target).abs() < 0.1).float().mean()) > 0.9  # the value of its class's mode
    share = float((drawn[..., 1] == 0).float().mean())
    assert 0.25 < share < 0.75  # both modes drawn, neither dropped
    assert float((drawn[..., 2] == test["params"][:, 2:3]).float().mean()) > 0.95  # the class the sound tells


# ------------------------------------------------------------------------------------------- match and evaluate
def test_match_takes_the_model_samples_as_a_stage(tiny_run, small_dexed_store):
    from patchflow.apps.matching import match_sound
    from patchflow.runtime import load_run

    run = load_run(tiny_run("flow_gen"))
    store = small_dexed_store
    target = store.audio(int(store.split_indices("test")[0]))
    result = match_sound(run, target, base_preset=store.base_preset, store=store, budget_seconds=0,
                         latent_count=4, neighbours=2, workers=1, sample_count=6)
    names = [s[0] for s in result.stages]
    assert names == ["model", "+ model samples", "+ retrieval"]
    assert result.stages[1][2] - result.stages[0][2] >= 1  # the samples were rendered
    assert {c.origin for c in result.candidates} <= {"model", "model samples", "retrieval"}
    assert "model samples" in {c.origin for c in result.candidates}


def test_evaluate_ranks_the_model_samples_among_the_candidates(tiny_run, small_dexed_store, monkeypatch):
    from patchflow.evaluation import evaluate as E
    from patchflow.runtime import load_run

    seen: dict[str, tuple[int, ...]] = {}
    search = E._search

    def recording(name, candidates, *args, **kwargs):
        seen[name] = candidates["test"].shape
        return search(name, candidates, *args, **kwargs)

    monkeypatch.setattr(E, "_search", recording)
    run = load_run(tiny_run("flow_gen"))
    settings = E.EvalSettings(max_items=2, refine_budget=0.05, latent_samples=3, model_samples=5, neighbours=2,
                              examples=0, workers=1)
    result = E.evaluate([run], small_dexed_store, settings=settings)
    # the prediction, 5 draws and 2 neighbours (no latent samples: flow_gen has no latent space)
    assert seen[run.name] == (2, 1 + 5 + 2, len(small_dexed_store.parameters))
    names = [r.name for r in result.rows]
    assert f"{run.name} + retrieval" in names and f"{run.name} + refinement" in names
