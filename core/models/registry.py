"""Finding and building models by name through the ``register_models`` plugin hook."""

from __future__ import annotations

from typing import Any

from ..errors import PatchflowError
from ..model import SynthModel
from .config import ModelConfig


class UnknownModelError(PatchflowError, LookupError):
    """A model name was asked for that no installed plugin registers."""


class ModelConfigError(PatchflowError, ValueError):
    """A model cannot be built from its config (for example ``flow_dis`` on a store without tag pairs)."""


def describe(factory: Any) -> str:
    """One-line description of a model factory: its ``description`` attribute or the first docstring line."""
    text = getattr(factory, "description", "") or (getattr(factory, "__doc__", "") or "").strip()
    return text.splitlines()[0] if text else ""


def available_models() -> dict[str, Any]:
    """Registered model factories by name (built-in and from plugins)."""
    from ..plugins import models

    return models()


def build_model(config: ModelConfig) -> SynthModel:
    """Build the model ``config.name`` from ``config``.

    Raises:
        UnknownModelError: No plugin registers that name (the message lists the known ones).
        ModelConfigError: The architecture cannot be built from ``config``.
        PatchflowError: The factory did not return a :class:`~patchflow.model.SynthModel`.
    """
    factories = available_models()
    try:
        factory = factories[config.name]
    except KeyError:
        raise UnknownModelError(f"unknown model {config.name!r}; available models: "
                                f"{', '.join(factories) or 'none'} (see `patchflow models`)") from None
    try:
        model = factory(config)
    except ValueError as exc:  # a config the architecture cannot be built from
        raise ModelConfigError(f"cannot build model {config.name!r}: {exc}") from None
    if not isinstance(model, SynthModel):
        raise PatchflowError(f"model factory {config.name!r} returned {type(model).__name__}, not a SynthModel")
    return model
