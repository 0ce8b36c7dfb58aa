"""Any VST3 instrument as a patchflow synth, hosted by pedalboard.

Point patchflow at plugins with the ``PATCHFLOW_VST3_PLUGINS`` environment variable (entries ``name=path``
separated by ``os.pathsep``, ``:`` on Linux and macOS) or the ``[plugins]`` table of
``~/.config/patchflow/vst3.toml``; each becomes the synth ``vst3:<name>``::

    export PATCHFLOW_VST3_PLUGINS="mysynth=/usr/lib/vst3/MySynth.vst3"
    patchflow synths            # lists vst3:mysynth

Parameters are discovered from the plugin: one :class:`~patchflow.ParameterSpec` per plugin parameter, named by
the plugin's own parameter name (``"VCF1: Frequency"``), continuous parameters over the plugin's displayed range,
choice and on/off parameters as categorical/boolean. Presets
may name parameters by that name or by pedalboard's attribute name (``vcf1_frequency``); any other name raises
:class:`~patchflow.UnknownParameterError` (pedalboard itself would silently ignore a misspelled attribute).

A note is rendered by sending note-on at 0 s and note-off at ``note_seconds``; the plugin renders stereo (pedalboard
cannot render an instrument without an input bus in mono), which is averaged to mono. Values are set in the
plugin's displayed units; the plugin snaps them to its own grid (the test instrument keeps two decimals), so the
value that sounds can differ from the one asked for by up to half a grid step.

Every call into a plugin runs on one host thread (see :func:`on_host_thread`): JUCE and pedalboard allow loading
and resetting plugins only there. A process therefore renders one VST3 note at a time, whatever its number of
worker threads; render in several processes for more throughput.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from patchflow import (
    ParameterKind,
    ParameterSpec,
    PatchflowError,
    Preset,
    RenderError,
    RenderSettings,
    Synth,
    UnknownParameterError,
)

from .config import ConfigError, config_dir, read_toml

ENV_PLUGINS = "PATCHFLOW_VST3_PLUGINS"
#: Prefix of the synth ids of configured plugins.
ID_PREFIX = "vst3:"
#: Parameters hosts add to every plugin that are not part of its sound.
EXCLUDED_PARAMETERS = frozenset({"Bypass", "bypass"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class InstrumentNotFoundError(PatchflowError):
    """A VST3 plugin cannot be loaded: missing file, not a VST3, or not an instrument."""


T = TypeVar("T")
_HOST_PREFIX = "patchflow-vst3-host"
_host_lock = threading.Lock()
_host: ThreadPoolExecutor | None = None


def on_host_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` on the one thread that hosts every VST3 plugin of the process.

    JUCE makes the first thread that loads a plugin its message thread, and pedalboard refuses to load or reset a
    plugin from any other thread ("must be reloaded on the main thread"). patchflow therefore loads, sets and
    renders every VST3 plugin on a single host thread, whichever thread asks: VST3 renders of one process run
    one at a time (parallel rendering needs several processes, e.g. the Ray backend).
    """
    global _host
    if threading.current_thread().name.startswith(_HOST_PREFIX):
        return func(*args, **kwargs)
    with _host_lock:
        if _host is None:
            _host = ThreadPoolExecutor(1, thread_name_prefix=_HOST_PREFIX)
    return _host.submit(func, *args, **kwargs).result()


def vst3_config_file() -> Path:
    """The VST3 configuration file (``~/.config/patchflow/vst3.toml`` or under ``$PATCHFLOW_CONFIG_DIR``)."""
    return config_dir() / "vst3.toml"


def plugin_entries() -> tuple[dict[str, Path], list[tuple[str, ConfigError]]]:
    """The configured plugins by name, and ``(where, error)`` for each entry that cannot be used.

    Entries come from the config file's ``[plugins]`` table, then from ``PATCHFLOW_VST3_PLUGINS`` (the variable
    wins for a name given twice). A malformed entry (no ``name=path``, a name with other characters than letters,
    digits, ``_``, ``.`` and ``-``, a path whose ``~user`` names nobody) is left out and reported, ``where``
    naming it (``PATCHFLOW_VST3_PLUGINS entry 'bad entry'``), and so is a config file that cannot be read: the
    entries that can be used are kept whatever the others hold.
    """
    found: dict[str, Path] = {}
    problems: list[tuple[str, ConfigError]] = []
    entries: list[tuple[str, object, str]] = []
    config = vst3_config_file()
    try:
        table = read_toml(config).get("plugins", {})
    except ConfigError as exc:
        problems.append((str(config), exc))
        table = {}
    if not isinstance(table, dict):
        problems.append((str(config), ConfigError("[plugins] must be a table of name = \"path\"; it is ignored")))
        table = {}
    entries.extend((str(name), path, f"{config} entry {name!r}") for name, path in table.items())
    for entry in filter(None, os.environ.get(ENV_PLUGINS, "").split(os.pathsep)):
        name, sep, path = entry.partition("=")
        entries.append((name.strip(), path.strip() if sep else "", f"{ENV_PLUGINS} entry {entry!r}"))
    for name, path, where in entries:
        if not _NAME.fullmatch(name) or not isinstance(path, str) or not path.strip():
            problems.append((where, ConfigError("not name=/path/to/plugin.vst3 (name: letters, digits, '_', '.', "
                                                "'-'); left out, the other entries are used")))
            continue
        try:
            found[name] = Path(path).expanduser()
        except RuntimeError as exc:  # "~nosuchuser/...": Could not determine home directory
            problems.append((where, ConfigError(f"{path}: {exc} Left out, the other entries are used")))
    return found, problems


def configured_plugins() -> dict[str, Path]:
    """The configured plugins by name: the config file's ``[plugins]`` table, then ``PATCHFLOW_VST3_PLUGINS``
    (the variable wins for a name given twice). Malformed entries are skipped with a warning each (see
    :func:`plugin_entries`, which returns them instead).
    """
    found, problems = plugin_entries()
    for where, problem in problems:
        warnings.warn(f"{where}: {problem}", stacklevel=2)
    return found


@dataclass(frozen=True)
class Binding:
    """How one spec reaches the plugin: pedalboard's attribute name and the spec."""

    key: str
    spec: ParameterSpec


def load_instrument(path: str | Path) -> Any:
    """Load a VST3 instrument with pedalboard.

    Raises:
        InstrumentNotFoundError: The file is missing, cannot be loaded, or is not an instrument.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InstrumentNotFoundError(f"VST3 plugin not found: {path}")
    import pedalboard

    try:
        plugin = on_host_thread(pedalboard.load_plugin, str(path))
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        raise InstrumentNotFoundError(f"{path}: cannot load as a VST3 plugin: {exc}") from None
    if not getattr(plugin, "is_instrument", False):
        raise InstrumentNotFoundError(f"{path}: this VST3 plugin is an effect, not an instrument")
    return plugin


def discover_specs(plugin: Any) -> list[Binding]:
    """One binding per sound parameter of a loaded plugin (host parameters such as Bypass are left out)."""
    bindings: list[Binding] = []
    for key, param in plugin.parameters.items():
        name = str(param.name)
        if name in EXCLUDED_PARAMETERS or key in EXCLUDED_PARAMETERS:
            continue
        spec = _spec_for(name, param, getattr(plugin, key))
        if spec is not None:
            bindings.append(Binding(key, spec))
    names = [b.spec.name for b in bindings]
    if len(set(names)) != len(names):  # clashing display names: fall back to pedalboard's unique keys
        bindings = [Binding(b.key, b.spec.model_copy(update={"name": b.key})) for b in bindings]
    return bindings


def _spec_for(name: str, param: Any, current: Any) -> ParameterSpec | None:
    unit = str(param.label or param.units or "")
    if param.type is bool:
        return ParameterSpec(name=name, kind=ParameterKind.BOOLEAN, default=float(bool(current)), unit=unit)
    if param.type is str:
        choices = tuple(str(v) for v in (param.valid_values or ()))
        if len(choices) < 2:
            return None
        default = float(choices.index(str(current))) if str(current) in choices else 0.0
        return ParameterSpec(name=name, kind=ParameterKind.CATEGORICAL, choices=choices, default=default, unit=unit)
    low, high = param.min_value, param.max_value
    if low is None or high is None or not float(low) < float(high):
        return None
    # pedalboard's ``step_size`` is the resolution of its probe, not the plugin's grid: leave ``step`` unset.
    draft = ParameterSpec(name=name, low=float(low), high=float(high), default=float(low), unit=unit)
    return draft.model_copy(update={"default": draft.clamp(float(current))})


class Vst3Synth(Synth):
    """A VST3 instrument rendered through pedalboard.

    Subclasses made by :func:`make_vst3_synth_class` carry a synth ``id`` and a ``plugin_path``; an instance can
    also be made for any file with ``Vst3Synth(path)``. The plugin is loaded on first use.
    """

    id = "vst3"
    display_name = "VST3 instrument"
    #: The plugin file (set by configured subclasses).
    plugin_path: str | None = None

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = Path(path).expanduser() if path is not None else (
            Path(self.plugin_path) if self.plugin_path else None)
        self._plugin: Any = None
        self._bindings: list[Binding] | None = None

    # ----------------------------------------------------------------------------------------------- plugin
    @property
    def path(self) -> Path:
        """The plugin file.

        Raises:
            InstrumentNotFoundError: No plugin path is configured.
        """
        if self._path is None:
            raise InstrumentNotFoundError(f"{type(self).__name__}: no VST3 plugin path configured")
        return self._path

    @property
    def plugin(self) -> Any:
        """The loaded pedalboard plugin (loaded on first access)."""
        if self._plugin is None:
            self._plugin = load_instrument(self.path)
        return self._plugin

    def bindings(self) -> list[Binding]:
        """How each spec reaches the plugin, in spec order."""
        if self._bindings is None:
            self._bindings = on_host_thread(self._bind)
        return self._bindings

    def _bind(self) -> list[Binding]:
        return discover_specs(self.plugin)

    def parameter_specs(self) -> Sequence[ParameterSpec]:
        """The plugin's sound parameters, discovered from the plugin."""
        return [b.spec for b in self.bindings()]

    # -------------------------------------------------------------------------------------------- parameters
    def resolve(self, name: str) -> Binding:
        """The binding of a parameter given by spec name or pedalboard attribute name.

        Raises:
            UnknownParameterError: Neither the synth nor the plugin has a parameter of that name.
        """
        lookup = self._lookup()
        try:
            return lookup[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(lookup), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownParameterError(f"{self.id}: unknown parameter {name!r}{hint}") from None

    def _lookup(self) -> dict[str, Binding]:
        table: dict[str, Binding] = {}
        for binding in self.bindings():
            table.setdefault(binding.key, binding)
            table[binding.spec.name] = binding
        return table

    def set_parameter(self, name: str, native: float) -> None:
        """Set one parameter on the plugin to a native value (clamped to its spec, snapped to the plugin grid).

        Raises:
            UnknownParameterError: No such parameter.
        """
        binding = self.resolve(name)
        on_host_thread(self._write, binding, binding.spec.clamp(native))

    def _write(self, binding: Binding, native: float) -> None:
        spec = binding.spec
        if spec.kind is ParameterKind.BOOLEAN:
            value: Any = bool(native)
        elif spec.kind is ParameterKind.CATEGORICAL:
            value = spec.choices[int(native)]
        else:
            value = float(native)
        setattr(self.plugin, binding.key, value)

    def apply(self, preset: Preset) -> None:
        """Set every parameter: the preset's values, and the defaults for the ones it does not set.

        Raises:
            UnknownParameterError: The preset names a parameter the plugin does not have.
        """
        chosen = {self.resolve(name).spec.name: value for name, value in preset.values.items()}
        on_host_thread(self._write_all, [(b, b.spec.clamp(chosen.get(b.spec.name, b.spec.default)))
                                         for b in self.bindings()])

    def _write_all(self, assignments: Sequence[tuple[Binding, float]]) -> None:
        for binding, native in assignments:
            self._write(binding, native)

    # --------------------------------------------------------------------------------------------- rendering
    def render(self, preset: Preset, settings: RenderSettings) -> np.ndarray:
        """Play one note with ``preset``: mono float32 audio of ``settings.num_samples`` samples.

        Raises:
            UnknownParameterError: The preset names a parameter the plugin does not have.
            RenderError: The plugin produced no or non-finite audio.
        """
        messages = [(bytes([0x90, settings.note, settings.velocity]), 0.0),
                    (bytes([0x80, settings.note, 0]), settings.note_seconds)]

        def play() -> np.ndarray:  # set and render in one host-thread call, so no other render interleaves
            self.apply(preset)
            return self.render_midi(messages, settings.total_seconds, settings.sample_rate)

        return on_host_thread(play)

    def render_midi(self, messages: Sequence[tuple[bytes, float]], total_seconds: float,
                    sample_rate: int) -> np.ndarray:
        """Render raw MIDI messages ``(bytes, time in seconds from the start)`` with the current parameters."""
        num_samples = int(round(total_seconds * sample_rate))
        plugin = self.plugin
        try:
            stereo = on_host_thread(plugin, list(messages), duration=total_seconds, sample_rate=sample_rate,
                                    num_channels=2, buffer_size=8192, reset=True)
        except (RuntimeError, ValueError) as exc:
            raise RenderError(f"{self.id}: the plugin failed to render: {exc}") from None
        mono = np.asarray(stereo, dtype=np.float32).mean(axis=0, dtype=np.float32)
        if mono.shape[0] < num_samples:
            mono = np.pad(mono, (0, num_samples - mono.shape[0]))
        mono = np.ascontiguousarray(mono[:num_samples], dtype=np.float32)
        if not np.all(np.isfinite(mono)):
            raise RenderError(f"{self.id}: the plugin produced non-finite samples")
        return mono

    def close(self) -> None:
        """Unload the plugin (on the host thread)."""
        if self._plugin is not None:
            on_host_thread(setattr, self, "_plugin", None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} {self._path}>"


def make_vst3_synth_class(name: str, path: str | Path) -> type[Vst3Synth]:
    """A :class:`Vst3Synth` subclass with id ``vst3:<name>`` for the plugin at ``path``."""
    return type(f"Vst3Synth_{re.sub(r'[^0-9A-Za-z_]', '_', name)}", (Vst3Synth,), {
        "id": f"{ID_PREFIX}{name}",
        "display_name": f"VST3 {name} ({Path(path).name})",
        "plugin_path": str(Path(path).expanduser()),
        "__module__": __name__,
    })
