"""The built-in models, registered through the same ``register_models`` hook as a plugin's models.

Factories import their module on first use, so listing models (``patchflow models``) does not import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..hookspecs import hookimpl


@dataclass(frozen=True)
class LazyModelFactory:
    """A model factory that imports ``module:cls`` when called.

    Attributes:
        target: ``"module:ClassName"`` relative to :mod:`patchflow.models`.
        description: One line shown by ``patchflow models``.
    """

    target: str
    description: str

    def __call__(self, config: Any) -> Any:
        """Build the model from a :class:`~patchflow.models.ModelConfig`."""
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(f"patchflow.models.{module}"), cls)(config)


#: Built-in models by registered name, in the paper's order.
BUILTIN_MODELS: dict[str, LazyModelFactory] = {
    "mlp": LazyModelFactory("baselines:MLPModel",
                            "Baseline: fully connected network from the mel to the parameters (paper: 5 x 2048)."),
    "cnn": LazyModelFactory("baselines:CNNModel",
                            "Baseline: dilated 2-D CNN, then an MLP, from the mel to the parameters."),
    "rescnn": LazyModelFactory("baselines:ResCNNModel",
                               "Baseline: residual dilated 2-D CNN, then an MLP, from the mel to the parameters."),
    "ae": LazyModelFactory("latent:AEModel",
                           "Auto-encoder (no latent regularisation) with a 2-layer MLP from z to the parameters."),
    "vae": LazyModelFactory("latent:VAEModel",
                            "VAE (Gaussian posterior, KL with beta warm-up) with a 2-layer MLP from z."),
    "wae": LazyModelFactory("latent:WAEModel",
                            "Wasserstein auto-encoder (MMD to N(0, I)) with a 2-layer MLP from z."),
    "vae_avb": LazyModelFactory("latent:AVBModel",
                                "Adversarial Variational Bayes: VAE with an implicit posterior q(z|x, eps), its KL "
                                "estimated by a discriminator T(x, z) (two optimisers)."),
    "vae_flow": LazyModelFactory("latent:VAEFlowModel",
                                 "VAE with an IAF posterior (16 steps) and a 2-layer MLP from z."),
    "flow_post": LazyModelFactory("flow_models:RegressionFlowModel",
                                  "Flow_reg (post): VAE + IAF posterior, invertible regression flow z -> params."),
    "flow_cond": LazyModelFactory("flow_models:CondFlowModel",
                                  "Flow_reg (cond): flow_post with amortised flow weights (adds their KL)."),
    "flow_dis": LazyModelFactory("flow_models:DisentanglingFlowModel",
                                 "Flow_dis: flow_post plus a disentangling flow putting tag pairs on latent axes."),
    "flow_gen": LazyModelFactory("generative:GenerativeFlowModel",
                                 "Generative: p(params | audio), a conditional MAF with a categorical chain; "
                                 "draws N candidates (best of N by re-rendering)."),
}


@hookimpl
def register_models(register: Callable[[str, Any], None]) -> None:
    """Register every built-in model (each factory takes a :class:`~patchflow.models.ModelConfig`)."""
    for name, factory in BUILTIN_MODELS.items():
        register(name, factory)
