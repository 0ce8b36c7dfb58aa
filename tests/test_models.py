"""Unit tests of the models on random tensors: shapes, losses, categorical heads, registry and plugins."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from patchflow import hookimpl
from patchflow.cli import app
from patchflow.errors import PatchflowError
from patchflow.model import SynthModel
from patchflow.models import ModelConfig, UnknownModelError, available_models, build_model
from patchflow.models.baselines import MLPModel
from patchflow.models.decoder import SequenceDecoder
from patchflow.models.encoders import ConvEncoder, MelSequenceEncoder, MLPEncoder
from patchflow.models.layout import ParamHead
from patchflow.models.latent import imq_mmd
from patchflow.models.plugin import BUILTIN_MODELS
from patchflow.plugins import register_plugin, unregister_plugin

SHAPE = (128, 20)
#: Six learned parameters: four continuous, one with 4 classes, one boolean.
CARDS = [0, 0, 4, 0, 0, 2]


#: Tiny models run faster on one thread than split over two busy cores (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_config(name: str, **update) -> ModelConfig:
    base = ModelConfig(name=name, n_params=len(CARDS), input_shape=SHAPE, cardinalities=CARDS, n_tags=2)
    return base.with_preset("small").model_copy(update={"conv_layers": 3, **update})


def random_batch(n: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    classes = torch.full((n, len(CARDS)), -1, dtype=torch.long)
    params = torch.rand(n, len(CARDS), generator=g)
    for col, card in enumerate(CARDS):
        if card:
            classes[:, col] = torch.randint(0, card, (n,), generator=g)
            params[:, col] = classes[:, col] / (card - 1)
    tags = torch.randint(-1, 2, (n, 2), generator=g).float()
    return {"mel": torch.randn(n, *SHAPE, generator=g), "params": params, "classes": classes, "tags": tags,
            "index": torch.arange(n)}


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_every_builtin_model_computes_a_finite_loss_with_gradients_and_predicts_in_range(name):
    torch.manual_seed(0)
    model = build_model(small_config(name))
    assert isinstance(model, SynthModel)
    batch = random_batch()
    out = model.loss(batch, beta=0.5)
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        pred = model.predict_params(batch["mel"])
    assert pred.shape == (6, len(CARDS))
    assert float(pred.min()) >= 0.0 and float(pred.max()) <= 1.0
    # categorical parameters are predicted on their class grid k / (n - 1)
    assert set(pred[:, 2].mul(3).round().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert torch.allclose(pred[:, 2] * 3, (pred[:, 2] * 3).round())
    assert set(pred[:, 5].tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_every_builtin_model_trains_and_predicts_under_mixed_precision(name):
    """Under autocast (bfloat16 on the CPU here; float16 on CUDA takes the same path) the convolutions run in low
    precision while the flows and likelihoods stay in float32: a flow given a low-precision input would refuse it."""
    torch.manual_seed(0)
    model = build_model(small_config(name, ae_encoder="sequence"))
    batch = random_batch()
    for step in model.training_steps():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model.step_loss(step.name, batch, beta=0.5)
        assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
        out["loss"].backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model.predict_params(batch["mel"])
    assert pred.shape == (6, len(CARDS)) and ((pred >= 0) & (pred <= 1)).all()


@pytest.mark.parametrize("encoder", ["conv2d", "sequence"])
@pytest.mark.parametrize("name", ["ae", "vae", "wae", "vae_avb", "vae_flow", "flow_post", "flow_cond", "flow_dis"])
def test_latent_models_expose_a_latent_of_the_parameter_count(name, encoder):
    torch.manual_seed(0)
    model = build_model(small_config(name, ae_encoder=encoder)).eval()
    assert isinstance(model.encoder, MelSequenceEncoder if encoder == "sequence" else ConvEncoder)
    mel = random_batch()["mel"]
    with torch.no_grad():
        z = model.encode(mel)
        assert model.has_latent and z.shape == (6, len(CARDS))
        assert torch.allclose(model.params_from_latent(z), model.predict_params(mel))
        assert model.decode(z).shape == (6, *SHAPE)


@pytest.mark.parametrize("name", ["vae", "wae", "vae_avb", "flow_post"])
def test_the_latent_head_puts_hidden_layers_between_the_encoder_and_the_posterior(name):
    torch.manual_seed(0)
    plain = build_model(small_config(name))
    assert not list(plain.latent_head.parameters())  # none by default: the checkpoints of earlier runs still load
    model = build_model(small_config(name, latent_head_layers=2))
    linears = [m for m in model.latent_head if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [model.config.head_hidden] * 2
    batch = random_batch()
    assert model.features(batch["mel"]).shape == (6, model.config.head_hidden)
    for step in model.training_steps():  # AVB's discriminator step reads the same features
        out = model.step_loss(step.name, batch, beta=0.5)
        assert torch.isfinite(out["loss"])
        out["loss"].backward()
    assert linears[0].weight.grad is not None and linears[0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model.encode(batch["mel"]).shape == (6, len(CARDS))


@pytest.mark.parametrize("name", ["flow_post", "flow_cond", "flow_dis"])
def test_regression_flow_maps_parameters_back_to_the_latent(name):
    torch.manual_seed(0)
    model = build_model(small_config(name, cardinalities=[])).eval()
    z = torch.randn(5, len(CARDS)) * 0.3
    with torch.no_grad():
        v, _ = model.regression_flow(z)
        back = model.latent_from_params(v)
    assert torch.allclose(back, z, atol=1e-4)


def test_the_two_way_objective_adds_the_inverse_error_and_reaches_the_encoder():
    batch = random_batch()
    torch.manual_seed(0)
    assert "inverse" not in build_model(small_config("flow_post")).loss(batch)
    torch.manual_seed(0)
    model = build_model(small_config("flow_post", regression_inverse_weight=0.5))
    terms = model.loss(batch)
    assert terms["inverse"] > 0 and torch.isfinite(terms["loss"])
    z, _ = model.sample_latent(batch["mel"])
    model.params_loss(z, batch)["inverse"].mean().backward()  # the term alone moves the encoder towards f^-1(v)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.regression_flow.parameters())


def test_models_without_inverse_say_so():
    model = build_model(small_config("vae"))
    with pytest.raises(NotImplementedError, match="cannot map parameters back"):
        model.latent_from_params(torch.rand(2, len(CARDS)))
    with pytest.raises(NotImplementedError, match="no latent space"):
        build_model(small_config("cnn")).encode(random_batch()["mel"])


def test_param_head_uses_cross_entropy_for_categorical_parameters():
    head = ParamHead(3, [0, 3])
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0]))  # sigmoid(0) = 0.5, class 0 very likely
    h = torch.zeros(2, 3)
    params = torch.tensor([[0.5, 0.0], [0.0, 1.0]])
    classes = torch.tensor([[-1, 0], [-1, 2]])
    loss = head.loss(h, params, classes)
    ce_right = -torch.log_softmax(torch.tensor([5.0, 0.0, 0.0]), 0)[0]
    ce_wrong = -torch.log_softmax(torch.tensor([5.0, 0.0, 0.0]), 0)[2]
    assert torch.allclose(loss, torch.stack([ce_right, 0.25 + ce_wrong]))
    assert head.predict(h).tolist() == [[0.5, 0.0], [0.5, 0.0]]


def test_encoders_output_their_declared_size_and_reject_wrong_shapes():
    conv = ConvEncoder(SHAPE, channels=4, layers=3, kernel_size=5, dilation_growth=2, residual=True)
    assert conv(torch.randn(2, *SHAPE)).shape == (2, conv.out_features)
    assert conv.feature_shape == (4, 16, 3)
    dense = MLPEncoder(SHAPE, hidden=7, layers=2)
    assert dense(torch.randn(3, *SHAPE)).shape == (3, 7)
    with pytest.raises(ValueError, match=r"expects mels of shape \(B, 128, 20\)"):
        conv(torch.randn(2, 128, 21))


@pytest.mark.parametrize("frames", [20, 87, 33])
def test_the_sequence_encoder_and_decoder_mirror_each_other_for_any_frame_count(frames):
    encoder = MelSequenceEncoder((128, frames), channels=8, layers=3, kernel_size=5)
    h = encoder(torch.randn(2, 128, frames))
    channels, steps = encoder.feature_shape
    assert (channels, steps) == (8, math.ceil(frames / 8)) and h.shape == (2, channels * steps)
    decoder = SequenceDecoder(6, (128, frames), encoder.feature_shape, 5, layers=3)
    assert decoder(torch.randn(2, 6)).shape == (2, 128, frames)


def test_the_sequence_auto_encoder_learns_to_reconstruct_a_fixed_batch():
    torch.manual_seed(0)
    model = build_model(small_config("flow_post", ae_encoder="sequence", recon_weight=1.0))
    batch = random_batch(n=16)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        optimiser.zero_grad()
        out = model.loss(batch, beta=0.0)
        out["loss"].backward()
        optimiser.step()
        first = float(out["recon"]) if first is None else first
    assert float(out["recon"]) < 0.7 * first


def test_mmd_is_small_for_prior_samples_and_large_for_shifted_ones():
    g = torch.Generator().manual_seed(1)
    prior = torch.randn(200, 4, generator=g)
    same = torch.randn(200, 4, generator=g)
    assert abs(float(imq_mmd(same, prior))) < 0.05
    assert float(imq_mmd(same + 3.0, prior)) > 0.5


def test_xavier_initialisation_bounds_linear_weights():
    torch.manual_seed(0)
    model = build_model(small_config("cnn"))
    linear = model.head.linear.requires_grad_(False)
    fan_in, fan_out = linear.weight.shape[1], linear.weight.shape[0]
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert float(linear.weight.abs().max()) <= bound
    assert float(linear.weight.abs().max()) > 0.5 * bound
    assert float(linear.bias.abs().max()) == 0.0


def test_config_presets_and_validation():
    paper = ModelConfig(name="cnn")
    small = paper.with_preset("small")
    assert (paper.conv_channels, paper.kernel_size, paper.flow_steps) == (128, 7, 16)
    assert small.conv_channels < paper.conv_channels and small.flow_steps < paper.flow_steps
    assert paper.ae_channels == 64 and paper.latent_size == paper.n_params
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ModelConfig(kernel_size=4)
    with pytest.raises(ValueError, match="cardinalities has 2 entries for 3"):
        ModelConfig(n_params=3, cardinalities=[0, 2])
    with pytest.raises(ValueError, match="unknown size preset"):
        paper.with_preset("huge")  # type: ignore[arg-type]


def test_unknown_model_names_the_available_ones():
    with pytest.raises(UnknownModelError, match="unknown model 'nope'.*flow_post"):
        build_model(ModelConfig(name="nope"))


class _TinyPluginModel(MLPModel):
    """A plugin-provided model: the MLP baseline under another name."""


class _ModelPlugin:
    @hookimpl
    def register_models(self, register):
        register("tiny_plugin_model", _TinyPluginModel)
        register("broken_plugin_model", lambda config: "not a model")


@pytest.fixture()
def model_plugin():
    register_plugin(_ModelPlugin(), name="test-model-plugin")
    yield
    unregister_plugin("test-model-plugin")


def test_a_plugin_adds_a_model_through_the_hook(model_plugin):
    assert "tiny_plugin_model" in available_models()
    model = build_model(small_config("tiny_plugin_model"))
    assert isinstance(model, _TinyPluginModel)
    with pytest.raises(PatchflowError, match="returned str, not a SynthModel"):
        build_model(small_config("broken_plugin_model"))
    result = CliRunner().invoke(app, ["models", "--json"])
    rows = {r["name"]: r["description"] for r in json.loads(result.output)}
    assert rows["tiny_plugin_model"] == "A plugin-provided model: the MLP baseline under another name."


def test_models_command_lists_every_builtin_model_with_a_description():
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = [r["name"] for r in rows]
    assert set(BUILTIN_MODELS) <= set(names)
    assert all(r["description"] for r in rows if r["name"] in BUILTIN_MODELS)
    table = CliRunner().invoke(app, ["models"])
    assert table.exit_code == 0 and "flow_dis" in table.output and "Wasserstein" in table.output


@pytest.mark.parametrize("name", ["flow_post", "flow_cond"])
def test_invertible_models_decode_their_own_codes_exactly_with_classify_off(name: str) -> None:
    """latent_from_params then params_from_latent(classify=False) gives every parameter back, categories included;
    the default decoding (classification head for categories) keeps the continuous ones exact."""
    torch.manual_seed(0)
    model = build_model(small_config(name)).eval()
    v = torch.rand(5, len(CARDS))
    for column, n in enumerate(CARDS):
        if n:
            v[:, column] = torch.randint(0, n, (5,)) / (n - 1)
    with torch.no_grad():
        z = model.latent_from_params(v)
        back = model.params_from_latent(z, classify=False)
        classified = model.params_from_latent(z)
    torch.testing.assert_close(back, v, atol=1e-4, rtol=0)
    continuous = [i for i, n in enumerate(CARDS) if n == 0]
    torch.testing.assert_close(classified[:, continuous], v[:, continuous], atol=1e-4, rtol=0)
