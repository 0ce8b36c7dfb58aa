"""Shared benchmark helpers: a throughput table for benchmarks that report ``samples_per_s``."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """Print one line per benchmark whose ``extra_info`` holds ``samples_per_s`` (and ``ratio`` if compared)."""
    session = getattr(config, "_benchmarksession", None)
    rows = [b for b in getattr(session, "benchmarks", []) or [] if "samples_per_s" in b.extra_info]
    if not rows:
        return
    terminalreporter.section("throughput (samples/s, median)")
    for bench in rows:
        info = bench.extra_info
        ratio = f"  ratio {info['ratio']:.2f}" if "ratio" in info else ""
        terminalreporter.write_line(f"{bench.name:70s} {info['samples_per_s']:>12,.0f}{ratio}")
