"""Trainable models: the paper's baselines (``mlp``, ``cnn``, ``rescnn``), auto-encoders (``ae``, ``vae``, ``wae``,
``vae_avb``, ``vae_flow``) and the flow models of the method (``flow_post``, ``flow_cond``, ``flow_dis``).

Build one by name with :func:`build_model`; plugins add models through the ``register_models`` hook.
"""

from importlib import import_module
from typing import Any

# Names are imported on first use so that registering the built-in models (at every start of the CLI) does not
# import torch.
_EXPORTS = {
    "ConfiguredModel": "base",
    "ModelConfig": "config",
    "SizePreset": "config",
    "ModelConfigError": "registry",
    "UnknownModelError": "registry",
    "available_models": "registry",
    "build_model": "registry",
    "describe": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
