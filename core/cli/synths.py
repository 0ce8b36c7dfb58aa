"""``patchflow synths`` and ``patchflow plugins``: what is installed."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from .app import console, err_console, friendly_errors, mark_plugin_problems_shown


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``app``."""

    @app.command()
    @friendly_errors
    def synths(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table, with every "
                                            "parameter's specification (name, kind, range, choices, unit).")
               ) -> None:
        """List the installed synth adapters and their parameter counts."""
        from ..parameters import ParameterKind
        from ..plugin_loading import record_problem
        from ..registries import origin, preset_parsers, preset_writers, synth_classes

        rows = []
        for synth_id, cls in synth_classes().items():
            try:
                table = cls().parameters
            except Exception as exc:  # one adapter that cannot start must not hide the others
                record_problem(origin(cls) or cls.__module__, f"synth {synth_id}: parameters", exc)
                continue
            kinds = [spec.kind for spec in table]
            rows.append({
                "id": synth_id,
                "name": cls.display_name or synth_id,
                "parameters": len(table),
                "continuous": kinds.count(ParameterKind.CONTINUOUS),
                "categorical": kinds.count(ParameterKind.CATEGORICAL) + kinds.count(ParameterKind.BOOLEAN),
                "module": cls.__module__,
                "parsers": [p.name for p in preset_parsers(synth_id)],
                "writers": [w.name for w in preset_writers(synth_id)],
                "parameter_specs": [spec.model_dump(mode="json") for spec in table],
            })
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            console.print("No synth adapters installed. Install one, e.g. `pip install patchflow-dexed` "
                          "(from a source checkout: `pip install ./adapters/dexed`).", highlight=False,
                          soft_wrap=True)
            return
        out = Table(title="Installed synths")
        for col in ("id", "name", "parameters", "continuous", "categorical", "preset formats"):
            out.add_column(col)
        for r in rows:
            out.add_row(r["id"], r["name"], str(r["parameters"]), str(r["continuous"]), str(r["categorical"]),
                        ", ".join(r["parsers"]) or "-")
        console.print(out)

    @app.command()
    @friendly_errors
    def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List the loaded plugins (entry points of the `patchflow` group) with their distribution and version,
        and those that failed to load or whose hooks failed (they are left out; set PATCHFLOW_TRACE_PLUGINS=1 for
        the tracebacks)."""
        from dataclasses import asdict

        from ..errors import PluginError
        from ..plugin_loading import LOAD, installed_plugins, plugin_manager, plugin_problems
        from ..registries import models, preset_parsers, preset_writers, synth_classes

        found = installed_plugins()
        conflicts = []
        for registry in (synth_classes, preset_parsers, preset_writers, models):  # call every hook once
            try:
                registry()
            except PluginError as exc:  # two plugins claim one id: neither is at fault alone
                conflicts.append(str(exc))
        problems = plugin_problems()
        mark_plugin_problems_shown(problems)
        by_plugin: dict[str, list] = {}
        for problem in problems:
            by_plugin.setdefault(problem.plugin, []).append(problem)
        names = {p.name for p in found}
        registered = dict(plugin_manager().list_name_plugin())
        others = [name for name in by_plugin if name not in names]  # built-in or registered in-process
        if as_json:
            rows = [dict(asdict(p), problems=[{"hook": q.hook, "error": q.error} for q in by_plugin.get(p.name, [])])
                    for p in found]
            rows += [{"name": name, "module": getattr(registered.get(name), "__name__", ""), "distribution": "",
                      "version": "", "error": "",
                      "problems": [{"hook": q.hook, "error": q.error} for q in by_plugin[name]]} for name in others]
            typer.echo(json.dumps(rows, indent=2))
        else:
            out = Table(title="Plugins")
            for col in ("name", "module", "distribution", "version", "status"):
                out.add_column(col, overflow="fold")

            def status(name: str) -> str:
                lines = [f"failed to load: {q.error}" if q.hook == LOAD else f"{q.hook} failed, left out: {q.error}"
                         for q in by_plugin.get(name, [])]
                return "\n".join(lines) or "ok"

            for p in found:
                out.add_row(p.name, p.module, p.distribution, p.version, status(p.name))
            for name in others:
                out.add_row(name, getattr(registered.get(name), "__name__", ""), "", "", status(name))
            console.print(out)
        for conflict in conflicts:
            err_console.print(f"[bold red]conflict:[/] {conflict}", highlight=False, soft_wrap=True)
