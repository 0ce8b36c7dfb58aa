"""Hook implementations registering the configured VST3 instruments as synths ``vst3:<name>``."""

from __future__ import annotations

from patchflow import hookimpl


@hookimpl
def register_synths(register):
    """Register one synth class per plugin of ``PATCHFLOW_VST3_PLUGINS`` / ``vst3.toml``."""
    from .synth import configured_plugins, make_vst3_synth_class

    for name, path in configured_plugins().items():
        register(make_vst3_synth_class(name, path))
