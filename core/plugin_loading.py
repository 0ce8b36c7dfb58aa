"""Loading plugins: the pluggy manager, the entry points of the ``patchflow`` group, and what went wrong.

Plugins are found through the ``patchflow`` entry-point group. Set ``PATCHFLOW_PLUGINS`` to a comma-separated
list of entry-point names to load only those (an empty value loads none), and ``PATCHFLOW_TRACE_PLUGINS=1`` to
print each hook call, and the traceback of each plugin that fails, to stderr.

A plugin that cannot be imported, or whose hook raises when it is called, is recorded as a
:class:`PluginProblem` and left out; the other plugins keep working. :func:`plugin_problems` lists the problems
met so far, ``patchflow plugins`` shows them.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs

ENV_PLUGINS = "PATCHFLOW_PLUGINS"
ENV_TRACE = "PATCHFLOW_TRACE_PLUGINS"
#: The ``hook`` of a :class:`PluginProblem` raised while importing the plugin.
LOAD = "load"

#: The plugins that ship with patchflow, by registered name: they load whatever ``PATCHFLOW_PLUGINS`` says,
#: through the same hooks as external plugins. Their modules are imported when the manager is first built.
BUILTIN_PLUGINS: dict[str, str] = {
    "patchflow.models": "patchflow.models.plugin",
    "patchflow.builtin": "patchflow.builtin_plugins",
}

_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None


@dataclass
class InstalledPlugin:
    """An entry point that was loaded (or failed to load).

    Attributes:
        name: The entry point's name, which is also the name the plugin is registered under.
        module: The module the entry point names.
        distribution: The distribution declaring it, and its version.
        error: Why it could not be imported (empty when it loaded).
    """

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    error: str = ""


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that failed and was left out.

    Attributes:
        plugin: The name the plugin is registered under (its entry point's name).
        hook: Where it failed: ``"load"`` (importing it), a hook name (``register_preset_parsers``), or a call on
            something it registered (``parser dx7-text: recognises``).
        error: One line: the exception's type and message.
        traceback: The full traceback (shown with ``PATCHFLOW_TRACE_PLUGINS=1``).
    """

    plugin: str
    hook: str
    error: str
    traceback: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed in {self.hook}: {self.error}"


@dataclass
class _State:
    plugins: list[InstalledPlugin] = field(default_factory=list)
    problems: dict[tuple[str, str], PluginProblem] = field(default_factory=dict)
    #: Incremented whenever the set of plugins changes, so registries built from them know to rebuild.
    generation: int = 0


_state = _State()


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with the built-in plugins and every allowed entry point loaded (once)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            for name, module in BUILTIN_PLUGINS.items():
                _register_module(pm, name, lambda module=module: importlib.import_module(module))
            _load_entry_points(pm)
            if os.environ.get(ENV_TRACE):
                pm.trace.root.setwriter(sys.stderr.write)
                pm.enable_tracing()
            _manager = pm
        return _manager


def _register_module(pm: pluggy.PluginManager, name: str, load: Callable[[], Any]) -> str:
    """Import a plugin and register it; return the error line ("" when it loaded)."""
    try:
        module = load()
        if pm.get_plugin(name) is None:
            pm.register(module, name=name)
    except Exception as exc:  # a broken plugin must not take the whole tool down
        return record_problem(name, LOAD, exc).error
    return ""


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed_env = os.environ.get(ENV_PLUGINS)
    allowed = None if allowed_env is None else {n.strip() for n in allowed_env.split(",") if n.strip()}
    for ep in metadata.entry_points(group=hookspecs.PROJECT):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = getattr(ep, "dist", None)
        info = InstalledPlugin(ep.name, ep.value, dist.name if dist else "", dist.version if dist else "")
        info.error = _register_module(pm, ep.name, ep.load)
        _state.plugins.append(info)


def installed_plugins() -> list[InstalledPlugin]:
    """The entry points patchflow tried to load, with load errors if any."""
    plugin_manager()
    return list(_state.plugins)


def plugin_problems() -> list[PluginProblem]:
    """Every plugin failure met so far in this process: load errors, and hooks that raised when called.

    Hooks are called when a registry is first needed, so a failing hook shows up here only once something asked
    for what it contributes (``patchflow plugins`` asks for everything).
    """
    with _lock:
        return list(_state.problems.values())


def record_problem(plugin: str, hook: str, exc: BaseException) -> PluginProblem:
    """Note that ``plugin`` failed in ``hook`` with ``exc`` (the latest failure per plugin and hook is kept).

    With ``PATCHFLOW_TRACE_PLUGINS`` set, the traceback is written to stderr.
    """
    lines = str(exc).strip().splitlines()
    error = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    problem = PluginProblem(plugin, hook, error, "".join(traceback.format_exception(exc)))
    with _lock:
        _state.problems[(plugin, hook)] = problem
    if os.environ.get(ENV_TRACE):
        sys.stderr.write(f"patchflow: {problem}\n{problem.traceback}")
    return problem


def hook_callers(hook_name: str) -> list[tuple[str, Callable[..., Any]]]:
    """``(plugin name, caller)`` for each plugin implementing ``hook_name``, in the order pluggy calls them (the
    plugin registered last first).

    Each caller takes the hook's arguments by name and calls that one plugin's implementation, so one that raises
    leaves the others unaffected; pass the failure to :func:`record_problem`. With ``PATCHFLOW_TRACE_PLUGINS``
    set, each call is traced like pluggy's own hook calls.
    """
    pm = plugin_manager()
    impls = [impl for impl in getattr(pm.hook, hook_name).get_hookimpls() if not (impl.hookwrapper or impl.wrapper)]
    return [(impl.plugin_name, _caller(pm, hook_name, impl)) for impl in reversed(impls)]


def _caller(pm: pluggy.PluginManager, hook_name: str, impl: Any) -> Callable[..., Any]:
    def call(**kwargs: Any) -> Any:
        if os.environ.get(ENV_TRACE):
            pm.trace.root.get("hook")(f"{hook_name} [{impl.plugin_name}]", kwargs)
        return impl.function(**{name: kwargs[name] for name in impl.argnames})

    return call


def generation() -> int:
    """A number that changes whenever plugins are registered, unregistered or rediscovered."""
    return _state.generation


def register_plugin(module: Any, name: str | None = None) -> None:
    """Register a plugin object directly (for tests and embedding); registries are rebuilt on next use."""
    plugin_manager().register(module, name=name)
    with _lock:
        _state.generation += 1


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered under ``name`` and forget its problems; registries are rebuilt on next use."""
    plugin_manager().unregister(name=name)
    with _lock:
        _state.problems = {key: p for key, p in _state.problems.items() if p.plugin != name}
        _state.generation += 1


def reset() -> None:
    """Forget every loaded plugin and problem; the next call rediscovers the entry points."""
    global _manager
    with _lock:
        _manager = None
        _state.plugins.clear()
        _state.problems.clear()
        _state.generation += 1
