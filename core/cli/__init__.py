"""The ``patchflow`` command line.

Every module in this package that defines ``register(app)`` contributes its commands; plugins add theirs through
the ``register_commands`` hook. Then every command, plugins' included, gets the conventions of
:class:`~patchflow.cli.app.Command` (plain help text, ``-h``, the order of ``patchflow --help``).
"""

from __future__ import annotations

import importlib
import pkgutil

from .app import app, apply_conventions, console


def _register_builtin_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in {"app"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


def _register_plugin_commands() -> None:
    from ..registries import add_commands

    add_commands(app)


_register_builtin_commands()
_register_plugin_commands()
apply_conventions(app)


def main() -> None:
    """Entry point of the ``patchflow`` executable."""
    app()


__all__ = ["app", "console", "main"]
