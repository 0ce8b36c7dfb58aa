"""The plugin API in one import: ``from patchflow.plugins import get_synth, parse_preset_file, ...``.

Each name lives in one of three modules, documented there:

- :mod:`patchflow.plugin_loading`: the pluggy manager, the entry points, and plugins that failed;
- :mod:`patchflow.registries`: what the plugins contribute (synths, preset parsers and writers, models,
  commands);
- :mod:`patchflow.preset_files`: reading and writing preset files with those parsers and writers.
"""

from __future__ import annotations

from .plugin_loading import (
    BUILTIN_PLUGINS,
    ENV_PLUGINS,
    ENV_TRACE,
    LOAD,
    InstalledPlugin,
    PluginProblem,
    hook_callers,
    installed_plugins,
    plugin_manager,
    plugin_problems,
    record_problem,
    register_plugin,
    reset,
    unregister_plugin,
)
from .preset_files import (
    SEVERAL_PARSERS,
    find_parser,
    find_writer,
    iter_preset_files,
    parse_preset_file,
    recognising_parsers,
    write_presets,
)
from .registries import (
    ANY_SYNTH,
    add_commands,
    get_synth,
    get_synth_class,
    models,
    origin,
    preset_parsers,
    preset_writers,
    synth_classes,
)

__all__ = [
    "ANY_SYNTH",
    "BUILTIN_PLUGINS",
    "ENV_PLUGINS",
    "ENV_TRACE",
    "LOAD",
    "SEVERAL_PARSERS",
    "InstalledPlugin",
    "PluginProblem",
    "add_commands",
    "find_parser",
    "find_writer",
    "get_synth",
    "get_synth_class",
    "hook_callers",
    "installed_plugins",
    "iter_preset_files",
    "models",
    "origin",
    "parse_preset_file",
    "plugin_manager",
    "plugin_problems",
    "preset_parsers",
    "preset_writers",
    "recognising_parsers",
    "record_problem",
    "register_plugin",
    "reset",
    "synth_classes",
    "unregister_plugin",
    "write_presets",
]
