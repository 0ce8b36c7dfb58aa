"""Hook implementations registering the configured VST3 instruments as synths ``vst3:<name>``."""

from __future__ import annotations

import sys

from patchflow import hookimpl

#: The entry-point name this plugin is registered under (``[project.entry-points.patchflow]``).
PLUGIN_NAME = "vst3"


@hookimpl
def register_synths(register):
    """Register one synth class per plugin of ``PATCHFLOW_VST3_PLUGINS`` / ``vst3.toml``.

    An entry that cannot be used (malformed, a path naming no home folder) is left out and recorded as a problem
    of this plugin, one per entry (``patchflow plugins`` lists them, other commands print one warning line each);
    every other entry is registered.
    """
    from patchflow.plugins import plugin_manager, record_problem

    from .synth import make_vst3_synth_class, plugin_entries

    found, problems = plugin_entries()
    name = plugin_manager().get_name(sys.modules[__name__]) or PLUGIN_NAME
    for where, problem in problems:
        record_problem(name, where, problem)
    for synth_name, path in found.items():
        register(make_vst3_synth_class(synth_name, path))
