r"""A generative model of the parameters given the sound, ``p(v | x)``, for best-of-N inference (``flow_gen``).

Point regressors answer a sound with one parameter vector, and where several very different presets sound alike
(DX7 frequency ratios, algorithms) the squared error pulls that answer to their average, which sounds like none
of them. ``flow_gen`` instead learns the whole conditional distribution by maximum likelihood and draws as many
candidates as the caller wants; the synth then decides among them by rendering (``evaluate``'s ``+ retrieval``
rows and ``match``'s ``+ model samples`` stage).

The model has three parts, all conditioned on a context ``h = e(x)`` from a 1-D convolutional mel encoder
(:class:`MelSequenceEncoder`: convolutions over time with the mel bands as channels, several times cheaper on a CPU
than the 2-D encoders of the other models):

* **discrete parameters** (categorical ones and the grids that ``classify_steps`` classifies): a chain of softmax
  classifiers, ``p(k_j | h, k_1 .. k_{j-1})``, sampled one after another (ancestral sampling);
* **continuous parameters**: a masked autoregressive flow (:class:`patchflow.flows.MAF`, affine steps with MADE
  conditioners) whose context is ``h`` and the one-hot codes of the discrete parameters, behind a logit so that
  samples stay inside ``(0, 1)``, and on its base side a :class:`patchflow.flows.ConditionalAffine` layer,
  which gives every parameter a location and scale that follow the context (a MADE conditioner leaves the first
  feature of each step's order unconditioned, and a single continuous parameter entirely);
* so the likelihood is exact and factorises as

.. math::

    \log p(v | x) = \sum_j \log p(k_j | h, k_{<j}) + \log p(v_c | h, k).

**Why a categorical chain and not dequantisation for the discrete parameters.** Dequantising a class ``k`` of
``n`` into the cell ``[k/n, (k+1)/n)`` and letting the flow model it would be simpler, but each step of an
affine autoregressive flow is a Gaussian per feature (given the features before it), so two classes that sound
alike but lie far apart on the axis (algorithms 5 and 17) can only be covered together by also covering every
class in between: the averaging problem again, in density form. A softmax puts its mass on any set of classes.
(Option ``discrete="dequantise"`` does the other thing, for comparison: every discrete parameter goes through the
flow, dequantised over the cells of its classes, and a sampled value's cell is its class; the training guide
measures both.)

**Dequantisation of the continuous grids.** Continuous synth parameters are usually stored on a grid (DX7 levels
take 100 values), and a density fitted to a grid of points degenerates into spikes. Each continuous value ``v`` is
therefore spread uniformly over a cell of width ``w`` (option ``dequantise_width``, default ``1/100``):
``v' = v (1 - w) + w u`` with ``u ~ U(0, 1)``, which is exactly the cell ``[j/m, (j+1)/m)`` of grid value
``j / (m - 1)`` when ``w = 1/m``; samples are mapped back with ``(v' - w/2) / (1 - w)``. (Training draws ``u``;
the validation loss uses the cells' midpoints, so it is deterministic.)

**The best guess** (:meth:`GenerativeFlowModel.predict_params`): a mean of samples would be the average the
model exists to avoid, so the prediction is the candidate of highest likelihood among ``mode_candidates``
(option, default 16) drawn with the same noise for every sound: the first candidate is the chain's argmax
classes with the flow's base point ``u = 0``, the others are samples at temperature ``mode_temperature`` (option,
default 0.5: classes from ``softmax(logits / T)``, base points from ``N(0, T^2)``), which keeps them near the mode.
The noise does not depend on the batch, so a sound gets the same prediction in any batch. (Measured in the
training guide, "Best of N": at 0.5 the best guess sounds closer than at 1. :meth:`sample_params` draws at
temperature 1, the distribution as learned.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import ConfiguredModel
from .blocks import at_least_float32, full_precision, xavier_init
from .config import ModelConfig
from .encoders import MelSequenceEncoder

#: Margin of the logit (RealNVP's ``alpha``): the flow sees ``logit(alpha + (1 - 2 alpha) v)``, within +-2.94. A
#: margin near 0 stretches the cells at the ends of a grid (``[0.99, 1)`` onto ``[4.6, 9.2]`` for 1e-4) into
#: tails an affine flow can only fit with extreme scales; trained that way, single items reached a loss of 1e16.
SQUEEZE = 0.05
#: Bound of the log-scale of each MAF step (the flows' default is 5).
MAX_LOG_SCALE = 2.0
#: Seed of the noise shared by every sound in :meth:`GenerativeFlowModel.predict_params`.
MODE_SEED = 0
#: Options of ``flow_gen`` read from :attr:`ModelConfig.options`, with their defaults.
OPTIONS = {"discrete": "chain", "dequantise_width": 0.01, "mode_candidates": 16, "mode_temperature": 0.5,
           "encoder_channels": None}
#: Treatments of the discrete parameters (option ``discrete``).
DISCRETE = ("chain", "dequantise")


class GenerativeFlowModel(ConfiguredModel):
    """``flow_gen``: a conditional model of the parameters given the mel that draws candidates (see the module).

    Sizes come from the shared fields of :class:`~patchflow.models.ModelConfig`: the encoder uses ``conv_layers``,
    ``kernel_size`` and ``4 * conv_channels`` channels (option ``encoder_channels``), then one layer of
    ``head_hidden`` units (batch norm, ELU, ``dropout``) gives the context; each discrete parameter's classifier
    has one hidden layer of ``regressor_hidden`` units; the flow has ``flow_steps`` MAF steps with
    ``flow_hidden`` conditioners, and its conditional affine layer one hidden layer of ``flow_hidden[0]`` units.
    """

    description = "Generative: p(params | audio) (MAF + categorical chain), draws candidates for best-of-N."

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        unknown = set(config.options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; flow_gen takes {sorted(OPTIONS)}")
        options = {**OPTIONS, **config.options}
        self.dequantise_width = float(options["dequantise_width"])
        if not 0.0 <= self.dequantise_width < 0.5:
            raise ValueError(f"dequantise_width must be in [0, 0.5), got {self.dequantise_width}")
        self.discrete = str(options["discrete"])
        if self.discrete not in DISCRETE:
            raise ValueError(f"discrete must be one of {', '.join(DISCRETE)}, got {self.discrete!r}")
        self.mode_candidates = int(options["mode_candidates"])
        if self.mode_candidates < 1:
            raise ValueError(f"mode_candidates must be at least 1, got {self.mode_candidates}")
        self.mode_temperature = float(options["mode_temperature"])
        if not self.mode_temperature > 0:
            raise ValueError(f"mode_temperature must be positive, got {self.mode_temperature}")
        channels = int(options["encoder_channels"] or config.sequence_channels)

        cards = config.param_cardinalities
        chained = self.discrete == "chain"
        # the chain's columns, and the flow's: the continuous ones (chain) or all of them (dequantise)
        self.cat_index = [i for i, c in enumerate(cards) if c > 0 and chained]
        self.cat_sizes = [cards[i] for i in self.cat_index]
        flow_index = [i for i, c in enumerate(cards) if c == 0 or not chained]
        self.register_buffer("flow_index", torch.tensor(flow_index, dtype=torch.long), persistent=False)
        # cell width of each flow column: one class (dequantised discrete ones) or dequantise_width
        self.register_buffer("flow_width", torch.tensor([1.0 / cards[i] if cards[i] else self.dequantise_width
                                                         for i in flow_index]), persistent=False)
        #: Flow columns that are classes, ``(position in the flow, column, classes)``: snapped after sampling.
        self.flow_classes = [(j, i, cards[i]) for j, i in enumerate(flow_index) if cards[i]]
        jacobian = [math.log(1.0 / cards[i]) if cards[i] else math.log1p(-self.dequantise_width)
                    for i in flow_index]
        # log |det| of v -> alpha + (1 - 2 alpha) (v (1 - w) + w u) per sample; for a dequantised class the cell's
        # width w, so that the term bounds the class's log-probability from below
        self.squeeze_logdet = len(flow_index) * math.log1p(-2 * SQUEEZE) + sum(jacobian)
        self.n_continuous = len(flow_index)
        one_hot = sum(self.cat_sizes)

        self.encoder = MelSequenceEncoder(config.input_shape, channels, config.conv_layers, config.kernel_size,
                                          batch_norm=config.batch_norm)
        context = config.head_hidden
        self.context_net = nn.Sequential(nn.Linear(self.encoder.out_features, context),
                                         nn.BatchNorm1d(context) if config.batch_norm else nn.Identity(), nn.ELU(),
                                         nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity())
        # classifier j sees the context and the one-hot codes of the discrete parameters before it
        self.classifiers = nn.ModuleList(
            nn.Sequential(nn.Linear(context + sum(self.cat_sizes[:j]), config.regressor_hidden), nn.ELU(),
                          nn.Linear(config.regressor_hidden, n))
            for j, n in enumerate(self.cat_sizes))
        xavier_init(self)
        self.flow = None
        if self.n_continuous:
            from patchflow.flows import MAF, ConditionalAffine, FlowSequence, Logit

            # data -> logit -> MAF -> conditional affine -> base. The MAF's first conditioners only see logits
            # within +-2.94, the range the training data covers, and each step may scale by e^2 at most: with the
            # affine layer first and the default bound e^5, an item far from what its context predicted reached
            # later steps at thousands of standard deviations, where the conditioners extrapolate, and single items
            # scored log-likelihoods of -1e16. The affine layer then gives every feature a location and scale that
            # follow the context. No ActNorm: its data-dependent start would differ between the processes of a
            # distributed run.
            dim, hidden = self.n_continuous, tuple(config.flow_hidden)
            self.flow = FlowSequence(Logit(dim),
                                     MAF(dim, steps=config.flow_steps, hidden=hidden, context_dim=context + one_hot,
                                         max_log_scale=MAX_LOG_SCALE),
                                     ConditionalAffine(dim, context + one_hot, hidden=hidden[:1]))

    @property
    def can_sample(self) -> bool:
        """``flow_gen`` draws candidates (:meth:`sample_params`)."""
        return True

    # ------------------------------------------------------------------------------------------------ helpers
    def context(self, mel: torch.Tensor) -> torch.Tensor:
        """The conditioning vector ``h`` ``(B, head_hidden)`` of a batch of mels, at least in float32."""
        return at_least_float32(self.context_net(self.encoder(mel)))

    def _classes(self, params: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Class index ``(B, D)`` of each discrete parameter (from its value when the store holds none)."""
        out = []
        for column, n in zip(self.cat_index, self.cat_sizes):
            stored = classes[:, column]
            from_value = torch.round(params[:, column].clamp(0, 1) * (n - 1)).long()
            out.append(torch.where(stored < 0, from_value, stored).clamp(0, n - 1))
        return torch.stack(out, dim=1) if out else params.new_zeros(params.shape[0], 0, dtype=torch.long)

    def _one_hot(self, k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        parts = [F.one_hot(k[:, j], n).to(dtype) for j, n in enumerate(self.cat_sizes)]
        return torch.cat(parts, dim=1) if parts else k.new_zeros(k.shape[0], 0, dtype=dtype)

    def _to_flow(self, v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The flow's columns in ``[0, 1]`` spread over their cells by ``u`` in ``[0, 1]``, squeezed."""
        w = self.flow_width.to(v.dtype)
        return SQUEEZE + (1 - 2 * SQUEEZE) * (v * (1 - w) + w * u)

    def _from_flow(self, y: torch.Tensor) -> torch.Tensor:
        w = self.flow_width.to(y.dtype)
        # the margin's mass (a sliver beyond each end, which training keeps small) goes to the ends themselves
        v = (((y - SQUEEZE) / (1 - 2 * SQUEEZE) - 0.5 * w) / (1 - w)).clamp(0, 1)
        for position, _, n in self.flow_classes:  # a dequantised class: the cell the value fell in
            v[:, position] = torch.round(v[:, position] * (n - 1)) / (n - 1)
        return v

    # -------------------------------------------------------------------------------------------- likelihood
    def log_prob(self, mel: torch.Tensor, params: torch.Tensor, classes: torch.Tensor,
                 cell_noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample log-likelihood terms ``(discrete, continuous)``, each ``(B,)``.

        Args:
            mel: Normalised log-mels ``(B, n_mels, frames)``.
            params: Parameters ``(B, P)`` in ``[0, 1]``.
            classes: Stored class indices ``(B, P)`` (-1 where a parameter is continuous in the store).
            cell_noise: Positions ``(B, P_c)`` in ``[0, 1]`` inside each continuous value's cell (default: the
                midpoints, 0.5).
        """
        h = self.context(mel)
        with full_precision(h):  # the classifiers and the flow in float32 under autocast
            k = self._classes(params, classes)
            discrete = h.new_zeros(h.shape[0])
            codes = self._one_hot(k, h.dtype)
            offset = 0
            for j, (n, net) in enumerate(zip(self.cat_sizes, self.classifiers)):
                logits = net(torch.cat([h, codes[:, :offset]], dim=1)).float()
                discrete = discrete - F.cross_entropy(logits, k[:, j], reduction="none")
                offset += n
            continuous = h.new_zeros(h.shape[0])
            if self.flow is not None:
                v = params[:, self.flow_index]
                for position, column, n in self.flow_classes:  # the class, from the store where it has one
                    stored = classes[:, column]
                    v[:, position] = torch.where(stored < 0, v[:, position], stored.to(v.dtype) / (n - 1))
                noise = torch.full_like(v, 0.5) if cell_noise is None else cell_noise
                base, logdet = self.flow(self._to_flow(v, noise), torch.cat([h, codes], dim=1))
                continuous = -0.5 * (base ** 2 + math.log(2 * math.pi)).sum(dim=1) + logdet + self.squeeze_logdet
            return discrete, continuous

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0) -> dict[str, torch.Tensor]:
        """Negative log-likelihood of the parameters per sample (dequantisation noise drawn in training mode)."""
        params = batch["params"]
        noise = None
        if self.training and self.flow is not None:
            noise = torch.rand(params.shape[0], self.n_continuous, dtype=params.dtype, device=params.device)
        discrete, continuous = self.log_prob(batch["mel"], params, batch["classes"], noise)
        terms = {"classes": -discrete.mean(), "flow": -continuous.mean()}
        loss = terms["classes"] + terms["flow"]
        return {"loss": loss, "params": loss.detach(), **{k: v.detach() for k, v in terms.items()}}

    # ---------------------------------------------------------------------------------------------- sampling
    def _draw(self, h: torch.Tensor, gumbel: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters ``(M, P)`` and their log-likelihood ``(M,)`` from contexts ``(M, C)``, Gumbel noise
        ``(M, sum of cardinalities)`` (ancestral Gumbel-max sampling of the classes) and base noise ``(M, P_c)``."""
        m = h.shape[0]
        out = h.new_zeros(m, self.n_params)
        log_p = h.new_zeros(m)
        codes = h.new_zeros(m, 0)
        offset = 0
        for column, n, net in zip(self.cat_index, self.cat_sizes, self.classifiers):
            log_probs = torch.log_softmax(net(torch.cat([h, codes], dim=1)).float(), dim=1)
            k = torch.argmax(log_probs + gumbel[:, offset:offset + n].float(), dim=1)
            log_p = log_p + log_probs.gather(1, k[:, None])[:, 0].to(log_p.dtype)
            out[:, column] = k.to(out.dtype) / (n - 1)
            codes = torch.cat([codes, F.one_hot(k, n).to(h.dtype)], dim=1)
            offset += n
        if self.flow is not None:
            y, logdet = self.flow.inverse(base, torch.cat([h, codes], dim=1))
            log_p = log_p - 0.5 * (base ** 2 + math.log(2 * math.pi)).sum(dim=1) - logdet + self.squeeze_logdet
            out[:, self.flow_index] = self._from_flow(y)
        return out, log_p

    def _noise(self, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device,
               temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel and base noise; a ``temperature`` T scales both, which draws the classes from
        ``softmax(logits / T)`` and the flow's base point from ``N(0, T^2)``."""
        uniform = torch.rand((*shape, sum(self.cat_sizes)), generator=generator, dtype=torch.float64)
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-12, 1 - 1e-12)))
        base = torch.randn((*shape, self.n_continuous), generator=generator)
        return (temperature * gumbel).to(device), (temperature * base).to(device)

    def sample_params(self, mel: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``(B, n, P)`` in ``[0, 1]`` from ``p(v | mel)`` per mel (noise from ``generator``, on the
        CPU, so a seed gives the same draws on any device)."""
        b = mel.shape[0]
        if n <= 0:
            return mel.new_zeros(b, 0, self.n_params)
        h = self.context(mel)
        with full_precision(h):  # the classifiers and the flow in float32 under autocast
            gumbel, base = self._noise((b, n), generator, h.device)
            out, _ = self._draw(h.repeat_interleave(n, dim=0), gumbel.reshape(b * n, -1),
                                base.reshape(b * n, -1).to(h.dtype))
            return out.reshape(b, n, -1)

    def predict_params(self, mel: torch.Tensor) -> torch.Tensor:
        """The most likely of ``mode_candidates`` candidates ``(B, P)`` per mel (see the module): the argmax
        classes with the base point 0, and samples drawn at ``mode_temperature`` with noise shared by every mel."""
        b, count = mel.shape[0], self.mode_candidates
        h = self.context(mel)
        with full_precision(h):  # the classifiers and the flow in float32 under autocast
            gumbel, base = self._noise((count,), torch.Generator().manual_seed(MODE_SEED), h.device,
                                       self.mode_temperature)
            gumbel[0] = 0.0
            base[0] = 0.0
            params, log_p = self._draw(h.repeat_interleave(count, dim=0), gumbel.repeat(b, 1),
                                       base.repeat(b, 1).to(h.dtype))
            best = log_p.reshape(b, count).argmax(dim=1)
            return params.reshape(b, count, -1)[torch.arange(b, device=h.device), best]
