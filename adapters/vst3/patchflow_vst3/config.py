"""Where patchflow finds user configuration for the Diva and VST3 adapters.

Settings come from environment variables first, then from ``$PATCHFLOW_CONFIG_DIR`` (default
``~/.config/patchflow``): ``vst3.toml`` (plugins and Diva's path) and ``diva-midi.toml`` (MIDI mapping).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from patchflow import PatchflowError

ENV_CONFIG_DIR = "PATCHFLOW_CONFIG_DIR"


class ConfigError(PatchflowError):
    """A configuration file or variable cannot be used (unreadable, bad TOML, wrong values)."""


def config_dir() -> Path:
    """The folder holding patchflow's user configuration files."""
    return Path(os.environ.get(ENV_CONFIG_DIR, "~/.config/patchflow")).expanduser()


def read_toml(path: Path) -> dict[str, Any]:
    """The contents of a TOML file, or ``{}`` when it does not exist.

    Raises:
        ConfigError: The file exists but cannot be read or parsed.
    """
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
