"""Plugin discovery and the registries built from it.

Plugins are found through the ``patchflow`` entry-point group. Set ``PATCHFLOW_PLUGINS`` to a comma-separated
list of entry-point names to load only those (an empty value loads none), and ``PATCHFLOW_TRACE_PLUGINS=1`` to
print each hook call to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, PresetFormatError, UnknownSynthError
from .formats import PresetParser, PresetWriter
from .presets import ParseProblem, ParseResult, Preset
from .synth import Synth

#: The ``synth`` of parsers and writers that handle presets of every synth (the built-in JSON format).
ANY_SYNTH = "*"
ENV_PLUGINS = "PATCHFLOW_PLUGINS"
ENV_TRACE = "PATCHFLOW_TRACE_PLUGINS"

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


@dataclass
class InstalledPlugin:
    """An entry point that was loaded (or failed to load)."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    error: str = ""


@dataclass
class _Loaded:
    plugins: list[InstalledPlugin] = field(default_factory=list)


_loaded = _Loaded()


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every allowed entry point loaded (once)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT)
            pm.add_hookspecs(hookspecs)
            pm.register(importlib.import_module("patchflow.models.plugin"), name="patchflow.models")
            pm.register(importlib.import_module("patchflow.builtin_plugins"), name="patchflow.builtin")
            _load_entry_points(pm)
            if os.environ.get(ENV_TRACE):
                pm.trace.root.setwriter(sys.stderr.write)
                pm.enable_tracing()
            _manager = pm
        return _manager


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed_env = os.environ.get(ENV_PLUGINS)
    allowed = None if allowed_env is None else {n.strip() for n in allowed_env.split(",") if n.strip()}
    for ep in metadata.entry_points(group=hookspecs.PROJECT):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = getattr(ep, "dist", None)
        info = InstalledPlugin(ep.name, ep.value, dist.name if dist else "", dist.version if dist else "")
        try:
            module = ep.load()
            if pm.get_plugin(ep.name) is None:
                pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the whole tool down
            info.error = f"{type(exc).__name__}: {exc}"
        _loaded.plugins.append(info)


def installed_plugins() -> list[InstalledPlugin]:
    """The entry points patchflow tried to load, with load errors if any."""
    plugin_manager()
    return list(_loaded.plugins)


def register_plugin(module: Any, name: str | None = None) -> None:
    """Register a plugin object directly (for tests and embedding); clears cached registries."""
    plugin_manager().register(module, name=name)
    _clear_caches()


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered under ``name``; clears cached registries."""
    plugin_manager().unregister(name=name)
    _clear_caches()


def reset() -> None:
    """Forget every loaded plugin; the next call rediscovers the entry points."""
    global _manager
    with _lock:
        _manager = None
        _loaded.plugins.clear()
    _clear_caches()


# --------------------------------------------------------------------------------------------------- registries
_cache: dict[str, Any] = {}


def _clear_caches() -> None:
    _cache.clear()


def _collect(hook_name: str, check) -> list[Any]:
    if hook_name in _cache:
        return _cache[hook_name]
    items: list[Any] = []

    def register(*args: Any) -> None:
        items.append(check(*args))

    getattr(plugin_manager().hook, hook_name)(register=register)
    _cache[hook_name] = items
    return items


def _check_synth(cls: type) -> type:
    if not (isinstance(cls, type) and issubclass(cls, Synth)):
        raise PluginError(f"register_synths: {cls!r} is not a patchflow.Synth subclass")
    if not cls.id:
        raise PluginError(f"register_synths: {cls.__name__} has no id")
    return cls


def synth_classes() -> dict[str, type[Synth]]:
    """Every registered synth class by id."""
    classes: dict[str, type[Synth]] = {}
    # pluggy calls the most recently registered plugin first; keep registration order stable by id
    for cls in _collect("register_synths", _check_synth):
        if cls.id in classes and classes[cls.id] is not cls:
            raise PluginError(f"two plugins register the synth id {cls.id!r}: "
                              f"{classes[cls.id].__module__} and {cls.__module__}")
        classes[cls.id] = cls
    return dict(sorted(classes.items()))


def get_synth_class(synth_id: str) -> type[Synth]:
    """The class registered for ``synth_id``.

    Raises:
        UnknownSynthError: No installed adapter provides it; the message lists the installed ones.
    """
    classes = synth_classes()
    try:
        return classes[synth_id]
    except KeyError:
        known = ", ".join(classes) or "none"
        raise UnknownSynthError(
            f"unknown synth {synth_id!r}; installed synths: {known}. "
            f"Install an adapter (e.g. `pip install patchflow-{synth_id}`) and check `patchflow synths`."
        ) from None


def get_synth(synth_id: str) -> Synth:
    """A new instance of the synth registered as ``synth_id`` (see :func:`get_synth_class`)."""
    return get_synth_class(synth_id)()


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


def find_parser(path: str | Path, synth: str | None = None) -> PresetParser:
    """The first parser that recognises ``path``.

    Raises:
        PresetFormatError: The file cannot be opened or no installed parser recognises it.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise PresetFormatError(f"cannot read file: {exc.strerror or exc}", path) from None
    candidates = preset_parsers(synth)
    for parser in candidates:
        if parser.recognises(path, head):
            return parser
    names = ", ".join(p.name for p in candidates) or "none installed"
    raise PresetFormatError(f"no preset parser recognises this file (tried: {names})", path)


def parse_preset_file(path: str | Path, synth: str | None = None) -> ParseResult:
    """Read one preset file with the first parser that recognises it.

    Raises:
        PresetFormatError: Nothing could be read from the file.
    """
    parser = find_parser(path, synth)
    result = parser.parse(Path(path))
    result.parser = result.parser or parser.name
    if synth is not None and parser.synth == ANY_SYNTH:
        others = [p for p in result.presets if p.synth != synth]
        if others:
            result.presets = [p for p in result.presets if p.synth == synth]
            result.problems.append(ParseProblem(
                path=str(path), kind="other-synth", action="skipped",
                message=f"{len(others)} preset(s) of other synths ({', '.join(sorted({p.synth for p in others}))})"))
            if not result.presets:
                raise PresetFormatError(f"no preset of synth {synth!r} in this file", path)
    return result


def iter_preset_files(paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Expand files and folders (recursively, sorted, hidden files skipped) into a list of files.

    Files under a folder of ``exclude`` (a store being written inside its own presets folder) are left out.
    """
    skip = [Path(e).expanduser().resolve() for e in exclude]
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        else:
            files.append(p)
    if skip:
        files = [f for f in files if not any(f.resolve().is_relative_to(s) for s in skip)]
    return files


def find_writer(synth: str, path: str | Path | None = None) -> PresetWriter:
    """A writer for ``synth``, preferring one whose suffixes match ``path``.

    Raises:
        PatchflowError: No writer is registered for this synth.
    """
    writers = preset_writers(synth)
    if path is not None:
        suffix = Path(path).suffix.lower()
        for writer in writers:
            if suffix in writer.suffixes:
                return writer
    if writers:  # the synth's own format before the generic ones
        return writers[0]
    raise PluginError(f"no preset writer is installed for synth {synth!r}")


def write_presets(presets: Sequence[Preset], path: str | Path) -> Path:
    """Write presets of one synth in its native format (the writer is chosen by the file suffix)."""
    if not presets:
        raise ValueError("no presets to write")
    synth_ids = {p.synth for p in presets}
    if len(synth_ids) != 1:
        raise ValueError(f"presets of several synths cannot share a file: {sorted(synth_ids)}")
    return find_writer(presets[0].synth, path).write(presets, Path(path))


def models() -> dict[str, Any]:
    """Registered model factories by name."""
    found: dict[str, Any] = {}
    for name, factory in _collect("register_models", lambda name, factory: (name, factory)):
        if name in found:
            raise PluginError(f"two plugins register the model {name!r}")
        found[name] = factory
    return dict(sorted(found.items()))
