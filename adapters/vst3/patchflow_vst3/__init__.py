"""patchflow adapter for any VST3 instrument, hosted by pedalboard.

* :mod:`.synth` hosts a VST3 instrument (:class:`Vst3Synth`), discovers its parameters and plays notes through it;
* :mod:`.config` is where the configuration comes from (``PATCHFLOW_CONFIG_DIR``, ``vst3.toml``);
* :mod:`.plugin` registers each configured plugin as the synth ``vst3:<name>``.
"""

from .config import ConfigError, config_dir, read_toml
from .synth import (
    Binding,
    InstrumentNotFoundError,
    Vst3Synth,
    configured_plugins,
    make_vst3_synth_class,
    on_host_thread,
    plugin_entries,
    vst3_config_file,
)

__all__ = [
    "Binding",
    "ConfigError",
    "InstrumentNotFoundError",
    "Vst3Synth",
    "config_dir",
    "configured_plugins",
    "make_vst3_synth_class",
    "on_host_thread",
    "plugin_entries",
    "read_toml",
    "vst3_config_file",
]
