"""A ``benchmark-table`` directive: a pytest-benchmark JSON report as a table, with the machine it ran on.

``make benchmark`` (or ``pytest benchmarks --benchmark-only --benchmark-json docs/benchmarks/latest.json``)
writes the report; the page shows whatever report is there when the docs are built, so the numbers and the
machine description always come from the same run. A missing report is said in a sentence, not an error.

Usage in MyST::

    ```{benchmark-table} benchmarks/latest.json
    ```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _seconds(value: float) -> str:
    """A duration with a unit that keeps three significant digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _number(value: float) -> str:
    """Four significant digits; from 10,000 on, the whole number (118500, not 1.185e+05)."""
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _extra(info: dict[str, Any], params: dict[str, Any] | None = None) -> str:
    """``extra_info`` as ``key=value`` pairs, leaving out what the test id already says (its parameters)."""
    parts = []
    for key, value in info.items():
        if params and key in params and params[key] == value:
            continue
        parts.append(f"{key}={_number(value) if isinstance(value, float) else value}")
    return ", ".join(parts).replace("|", "/")


#: The table's columns; few and short, so that the table fits the page's text width.
HEADER = "| Benchmark | Mean ± s.d. | Min | Rounds | Details |"


def report_lines(report: dict[str, Any], source: str) -> list[str]:
    """MyST lines for one pytest-benchmark report: the machine, then one table row per benchmark.

    Each row: the test id, the mean and standard deviation of one round, the fastest round, the number of
    rounds, and the benchmark's ``extra_info`` (the rounds per second are one over the mean, so not repeated).
    """
    machine = report.get("machine_info", {})
    cpu = machine.get("cpu", {})
    commit = report.get("commit_info", {})
    described = [
        f"**Machine**: {cpu.get('brand_raw') or machine.get('processor') or 'unknown CPU'}, "
        f"{cpu.get('count', '?')} logical cores, {machine.get('system', '')} {machine.get('release', '')}, "
        f"{machine.get('python_implementation', 'Python')} {machine.get('python_version', '')}.",
        f"**Run**: {report.get('datetime', 'unknown date')}"
        + (f", commit `{commit['id'][:10]}`{' (with local changes)' if commit.get('dirty') else ''}"
           if commit.get("id") else "")
        + f"; report `{source}`.",
        "",
        HEADER,
        "|---|---|---|---|---|",
    ]
    for bench in sorted(report.get("benchmarks", []), key=lambda b: b.get("fullname", b.get("name", ""))):
        stats = bench.get("stats", {})
        described.append(
            f"| `{bench.get('name', '?')}` | {_seconds(stats.get('mean', 0.0))} ± {_seconds(stats.get('stddev', 0.0))}"
            f" | {_seconds(stats.get('min', 0.0))} | {stats.get('rounds', '?')}"
            f" | {_extra(bench.get('extra_info', {}), bench.get('params'))} |")
    return described


class BenchmarkTable(SphinxDirective):
    """Render a pytest-benchmark JSON report (path relative to the docs folder)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        relative = self.arguments[0]
        path = Path(self.env.srcdir) / relative
        self.env.note_dependency(str(path))
        self.env.note_reread()
        if not path.is_file():
            return [nodes.paragraph(text=f"No report recorded yet: docs/{relative} does not exist.")]
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise self.error(f"{relative}: not a pytest-benchmark JSON report ({exc})") from None
        # the class lets docs/_static/patchflow.css fit the table to the text width (fixed layout, wrapped cells)
        container = nodes.container(classes=["benchmark-report"])
        self.state.nested_parse(StringList(report_lines(report, relative), source=str(path)), self.content_offset,
                                container)
        return [container]


def setup(app: Sphinx) -> dict:
    """Register the directive."""
    app.add_directive("benchmark-table", BenchmarkTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
