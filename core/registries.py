"""The registries built from the plugins' contribution hooks: synths, preset parsers and writers, models,
pretrained matchers and commands.

Each registry calls its hook once per plugin (see :func:`patchflow.plugin_loading.hook_callers`) and checks what
is registered. A plugin whose hook raises, or registers something of the wrong kind, contributes nothing to that
registry and is recorded in :func:`patchflow.plugin_loading.plugin_problems`; the other plugins keep working.
Registries are built on first use and rebuilt when plugins are registered or unregistered.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import PluginError, UnknownSynthError
from .formats import PresetParser, PresetWriter
from .plugin_loading import LOAD, generation, hook_callers, plugin_problems, record_problem
from .synth import Synth

#: The ``synth`` of parsers and writers that handle presets of every synth (the built-in JSON format).
ANY_SYNTH = "*"

_lock = threading.Lock()
_cache: dict[str, list[Any]] = {}
#: The plugin that registered each item of the cached registries, by ``id`` of the item.
_origins: dict[int, str] = {}
_cache_generation = -1


def _collect(hook_name: str, check: Callable[..., Any]) -> list[Any]:
    """What every plugin registers through ``hook_name``, checked, in the order pluggy calls the plugins."""
    global _cache_generation
    with _lock:
        if _cache_generation != generation():
            _cache.clear()
            _origins.clear()
            _cache_generation = generation()
        if hook_name in _cache:
            return _cache[hook_name]
    items: list[Any] = []
    origins: dict[int, str] = {}
    for plugin, call in hook_callers(hook_name):
        mine: list[Any] = []
        try:
            call(register=lambda *args, **kwargs: mine.append(check(*args, **kwargs)))
        except Exception as exc:  # one plugin's fault must not take every command down
            record_problem(plugin, hook_name, exc)
            continue
        items.extend(mine)
        origins.update((id(item), plugin) for item in mine)
    with _lock:
        _cache[hook_name] = items
        _origins.update(origins)
    return items


def origin(item: Any) -> str:
    """The name of the plugin that registered ``item`` (a synth class, parser, writer...), or ``""``."""
    return _origins.get(id(item), "")


# ------------------------------------------------------------------------------------------------------- synths
def _check_synth(cls: type) -> type:
    if not (isinstance(cls, type) and issubclass(cls, Synth)):
        raise PluginError(f"register_synths: {cls!r} is not a patchflow.Synth subclass")
    if not cls.id:
        raise PluginError(f"register_synths: {cls.__name__} has no id")
    return cls


def synth_classes() -> dict[str, type[Synth]]:
    """Every registered synth class by id.

    Raises:
        PluginError: Two plugins register the same synth id.
    """
    classes: dict[str, type[Synth]] = {}
    for cls in _collect("register_synths", _check_synth):
        if cls.id in classes and classes[cls.id] is not cls:
            raise PluginError(f"two plugins register the synth id {cls.id!r}: "
                              f"{classes[cls.id].__module__} and {cls.__module__}")
        classes[cls.id] = cls
    return dict(sorted(classes.items()))


def get_synth_class(synth_id: str) -> type[Synth]:
    """The class registered for ``synth_id``.

    Raises:
        UnknownSynthError: No installed adapter provides it; the message suggests close ids, lists the installed
            ones and names plugins that failed to load or register synths.
    """
    classes = synth_classes()
    if synth_id in classes:
        return classes[synth_id]
    known = ", ".join(classes) or "none"
    close = difflib.get_close_matches(synth_id, list(classes), n=3, cutoff=0.6)
    if close:
        message = (f"unknown synth {synth_id!r}; did you mean {' or '.join(map(repr, close))}? "
                   f"Installed synths: {known}.")
    else:
        message = (f"unknown synth {synth_id!r}; installed synths: {known}. Install its adapter (adapters are "
                   f"named patchflow-<synth>, e.g. `pip install patchflow-{synth_id}`) and check `patchflow synths`.")
    failed = [p for p in plugin_problems() if p.hook in (LOAD, "register_synths")]
    if failed:
        message += (f" {len(failed)} plugin(s) failed and were left out: "
                    + "; ".join(str(p) for p in failed) + " (see `patchflow plugins`).")
    raise UnknownSynthError(message)


def get_synth(synth_id: str) -> Synth:
    """A new instance of the synth registered as ``synth_id`` (see :func:`get_synth_class`)."""
    return get_synth_class(synth_id)()


# ------------------------------------------------------------------------------------------ parsers and writers
def _check_parser(parser: Any) -> PresetParser:
    if not isinstance(parser, PresetParser):
        raise PluginError(f"register_preset_parsers: {parser!r} does not implement PresetParser")
    return parser


def _check_writer(writer: Any) -> PresetWriter:
    if not isinstance(writer, PresetWriter):
        raise PluginError(f"register_preset_writers: {writer!r} does not implement PresetWriter")
    return writer


def preset_parsers(synth: str | None = None) -> list[PresetParser]:
    """Registered parsers (of one synth if given), in the order they are tried: synths' own formats first, then
    the generic ones (``synth == "*"``), each in registration order."""
    parsers = sorted(reversed(_collect("register_preset_parsers", _check_parser)), key=lambda p: p.synth == ANY_SYNTH)
    return [p for p in parsers if synth is None or p.synth in (synth, ANY_SYNTH)]


def preset_writers(synth: str | None = None) -> list[PresetWriter]:
    """Registered writers (of one synth if given): synths' own formats first, then the generic ones."""
    writers = sorted(reversed(_collect("register_preset_writers", _check_writer)), key=lambda w: w.synth == ANY_SYNTH)
    return [w for w in writers if synth is None or w.synth in (synth, ANY_SYNTH)]


# ------------------------------------------------------------------------------------------- models and commands
def models() -> dict[str, Any]:
    """Registered model factories by name.

    Raises:
        PluginError: Two plugins register the same model name.
    """
    found: dict[str, Any] = {}
    for name, factory in _collect("register_models", lambda name, factory: (name, factory)):
        if name in found:
            raise PluginError(f"two plugins register the model {name!r}")
        found[name] = factory
    return dict(sorted(found.items()))


# --------------------------------------------------------------------------------------- pretrained matchers
@dataclass(frozen=True)
class Matcher:
    """A pretrained matcher a plugin ships for a synth (see the ``register_matchers`` hook).

    Attributes:
        synth: The synth id.
        path: The bundle's folder (a run directory with ``index.npz``); it may not exist yet.
        recipe: How to make the bundle when it is missing, in words (may be empty).
        plugin: The plugin that registered it.
    """

    synth: str
    path: Path
    recipe: str = ""
    plugin: str = ""

    @property
    def installed(self) -> bool:
        """Whether the bundle is there: a run's ``config.json``, ``data.json`` and best checkpoint."""
        return all((self.path / part).is_file() for part in ("config.json", "data.json", "checkpoints/best.pt"))


def _check_matcher(synth_id: Any, path: Any, recipe: Any = "") -> Matcher:
    if not isinstance(synth_id, str) or not synth_id:
        raise PluginError(f"register_matchers: the synth id must be a non-empty string, got {synth_id!r}")
    if not isinstance(path, (str, Path)):
        raise PluginError(f"register_matchers: the bundle of {synth_id!r} must be a path, got {path!r}")
    return Matcher(synth_id, Path(path), str(recipe or ""))


def matchers() -> dict[str, Matcher]:
    """Registered pretrained matchers by synth id, installed or not.

    Raises:
        PluginError: Two plugins register a matcher for the same synth.
    """
    found: dict[str, Matcher] = {}
    for matcher in _collect("register_matchers", _check_matcher):
        if matcher.synth in found:
            raise PluginError(f"two plugins register a pretrained matcher for {matcher.synth!r}: "
                              f"{origin(found[matcher.synth]) or '?'} and {origin(matcher) or '?'}")
        found[matcher.synth] = matcher
    return {synth: replace(m, plugin=origin(m)) for synth, m in sorted(found.items())}


def add_commands(cli: Any) -> None:
    """Let every plugin add its commands to the root command line ``cli`` (a :class:`typer.Typer`).

    A plugin whose ``register_commands`` raises is recorded as a problem; the commands of the others are added.
    """
    for plugin, call in hook_callers("register_commands"):
        try:
            call(cli=cli)
        except Exception as exc:
            record_problem(plugin, "register_commands", exc)
