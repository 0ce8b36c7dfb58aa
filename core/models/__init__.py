"""Trainable models: the paper's baselines (``mlp``, ``cnn``, ``rescnn``), auto-encoders (``ae``, ``vae``, ``wae``,
``vae_flow``) and the flow models of the method (``flow_post``, ``flow_cond``, ``flow_dis``).

Build one by name with :func:`build_model`; plugins add models through the ``register_models`` hook.
"""

from .base import ConfiguredModel
from .config import ModelConfig, SizePreset
from .registry import ModelConfigError, UnknownModelError, available_models, build_model, describe

__all__ = [
    "ConfiguredModel",
    "ModelConfig",
    "ModelConfigError",
    "SizePreset",
    "UnknownModelError",
    "available_models",
    "build_model",
    "describe",
]
