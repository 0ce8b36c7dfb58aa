"""The method's models: a VAE with an IAF posterior and an invertible regression flow from the latent to the
parameters (``flow_post``, ``flow_cond``), optionally with a disentangling flow over tag pairs (``flow_dis``).

The regression flow acts on all ``P`` dimensions (categorical parameters as ``k / (n - 1)``), which keeps it
invertible: ``latent_from_params`` maps any preset into the latent space. Categorical parameters are in addition
classified from ``z`` by a small head with a cross-entropy loss, and that head gives their predictions.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .latent import LatentModel
from .layout import ParamHead


class RegressionFlowModel(LatentModel):
    """VAE (IAF posterior) with a regression flow ``v = f(z) + eps`` instead of the MLP regressor."""

    regulariser = "kl"
    use_posterior_flow = True
    variant = "post"

    def __init__(self, config: ModelConfig) -> None:
        if config.latent_size != config.n_params:
            raise ValueError(f"{config.name} needs latent_dim == n_params ({config.n_params}), "
                             f"got {config.latent_dim}")
        super().__init__(config)

    def build_regressor(self) -> None:
        """The regression flow and, if any learned parameter is categorical, a classification head from ``z``."""
        from patchflow.flows import RegressionFlow

        self.regression_flow = RegressionFlow(self.latent_dim, steps=self.config.flow_steps,
                                              hidden=tuple(self.config.flow_hidden), variant=self.variant,
                                              logdet_weight=self.config.regression_logdet_weight)
        cards = self.config.param_cardinalities
        self.classifier = None
        if any(cards):
            self.classifier = nn.Sequential(nn.Linear(self.latent_dim, self.config.regressor_hidden), nn.ELU(),
                                            ParamHead(self.config.regressor_hidden, cards, continuous=False))

    def params_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Negative log-likelihood of the parameters under the flow (plus cross-entropy of categorical ones, the
        inverse error with ``regression_inverse_weight``, and for ``flow_cond`` the KL of the amortised flow
        weights)."""
        terms = {"params": self.regression_flow.nll(z, batch["params"])}
        if self.config.regression_inverse_weight > 0:
            terms["inverse"] = self.config.regression_inverse_weight * self.regression_flow.inverse_error(
                z, batch["params"])
        if self.classifier is not None:
            trunk, head = self.classifier[:-1], self.classifier[-1]
            terms["classes"] = head.loss(trunk(z), batch["params"], batch["classes"])
        if self.variant == "cond" and self.config.flow_kl_weight > 0:
            terms["flow_kl"] = (self.config.flow_kl_weight * self.regression_flow.kl()).expand(z.shape[0])
        return terms

    def params_from_latent(self, z: torch.Tensor, *, classify: bool = True) -> torch.Tensor:
        """Parameters ``(B, P)`` in ``[0, 1]`` through the regression flow.

        Args:
            z: Latent codes.
            classify: Take categorical parameters from the classification head (the best prediction). With
                ``False`` they are the flow's own output snapped to the nearest class, so that decoding
                :meth:`latent_from_params` gives the parameters back exactly.
        """
        v, _ = self.regression_flow(z)
        v = v.clamp(0.0, 1.0)
        if self.classifier is not None:
            trunk, head = self.classifier[:-1], self.classifier[-1]
            v = head.predict(trunk(z), base=v) if classify else head.snap_classes(v)
        return v

    def latent_from_params(self, params: torch.Tensor) -> torch.Tensor:
        """Latent codes of parameters ``(B, P)`` through the inverse regression flow."""
        z, _ = self.regression_flow.inverse(params)
        return z


class CondFlowModel(RegressionFlowModel):
    """Flow_cond: the regression flow's weights are amortised (sampled from learned Gaussians), adding a KL."""

    variant = "cond"


class DisentanglingFlowModel(RegressionFlowModel):
    """Flow_dis: ``flow_post`` plus a disentangling flow that puts each tag pair on its own latent dimension."""


    def __init__(self, config: ModelConfig) -> None:
        if config.n_tags < 1:
            raise ValueError("flow_dis needs a store with tag pairs (n_tags >= 1)")
        if config.n_tags > config.latent_size:
            raise ValueError(f"flow_dis: {config.n_tags} tag pairs do not fit in a {config.latent_size}-d latent")
        super().__init__(config)
        from patchflow.flows import DisentanglingFlow

        self.disentangling_flow = DisentanglingFlow(self.latent_dim, config.n_tags, steps=config.flow_steps,
                                                    hidden=tuple(config.flow_hidden))

    def extra_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The disentangling loss of the tagged and untagged samples."""
        return {"disentangle": self.config.dis_weight * self.disentangling_flow.loss(z, batch["tags"])}

    def semantic_from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Codes in the disentangled space: dimension ``k`` follows tag pair ``k``."""
        s, _ = self.disentangling_flow(z)
        return s
