"""The plugin hooks of patchflow.

A plugin is a module (usually in its own distribution) that implements some of these hooks with
:data:`patchflow.hookimpl` and declares itself in the ``patchflow`` entry-point group::

    # pyproject.toml of the plugin
    [project.entry-points.patchflow]
    mysynth = "patchflow_mysynth.plugin"

Every hook is a *contribution* hook: patchflow calls it once with a ``register`` callback, and the plugin calls
``register(...)`` once per thing it contributes. patchflow checks what is registered (types, unique ids), so a
plugin does not have to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

#: The entry-point group (and pluggy project name) plugins register under.
PROJECT = "patchflow"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_synths(register: Callable[[type], None]) -> None:
    """Contribute synthesizers.

    Call ``register(SynthClass)`` for each :class:`patchflow.Synth` subclass the plugin provides. The class must
    set a unique ``id`` and be constructible without arguments (read configuration from the environment or a
    config file, and create heavy engines lazily).

    Example::

        @hookimpl
        def register_synths(register):
            register(MySynth)
    """


@hookspec
def register_preset_parsers(register: Callable[[Any], None]) -> None:
    """Contribute preset-file readers.

    Call ``register(parser)`` with an object implementing :class:`patchflow.formats.PresetParser`: a ``name``,
    the ``synth`` id its presets belong to, ``recognises(path, head) -> bool`` (``head`` is the first 4096 bytes
    of the file) and ``parse(path) -> ParseResult``. When a file is read, the first registered parser that
    recognises it wins; ``parse`` must report problems in the result rather than raise, except for
    :class:`patchflow.errors.PresetFormatError` when nothing at all can be read.
    """


@hookspec
def register_preset_writers(register: Callable[[Any], None]) -> None:
    """Contribute preset-file writers.

    Call ``register(writer)`` with an object implementing :class:`patchflow.formats.PresetWriter`: a ``name``,
    the ``synth`` id, the file ``suffixes`` it writes and ``write(presets, path)``.
    """


@hookspec
def register_models(register: Callable[[str, Any], None]) -> None:
    """Contribute trainable models.

    Call ``register(name, factory)`` where ``factory`` builds a model from a config (see the models guide).
    """


@hookspec
def register_matchers(register: Callable[..., None]) -> None:
    """Contribute pretrained matchers: what `patchflow match SOUND --synth ID` uses when no run is given.

    Call ``register(synth_id, path, recipe="")`` once per synth: ``path`` is the folder of a *matcher bundle*, a
    run directory as ``patchflow train`` writes it (``config.json``, ``data.json``, ``checkpoints/best.pt`` and
    ``best.json``) with the retrieval index ``patchflow index build`` adds (``index.npz``), usually shipped as
    package data of the adapter. The folder may be missing or empty (the weights are made later, or not yet
    downloaded); ``recipe`` then tells the user, in a line, how to make it. patchflow checks the bundle only
    when it is used.

    Example::

        @hookimpl
        def register_matchers(register):
            register("mysynth", Path(__file__).parent / "pretrained", recipe="make pretrained")
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``patchflow`` command line.

    ``cli`` is the root :class:`typer.Typer` application; add commands with ``@cli.command()`` or sub-groups
    with ``cli.add_typer(...)``.
    """
