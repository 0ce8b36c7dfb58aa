#!/usr/bin/env python
"""Compare one row of an evaluation report with a row of another report, item by item.

``patchflow evaluate`` compares its rows with each other; this script compares rows of two reports (two
``results.json``), for instance a model's ``+ refinement`` row with the ``retrieval + refinement`` row of a second
evaluation that gave retrieval as many candidates (``evaluate --neighbours``). Both reports must hold the same items
of the same store: the script refuses otherwise. With ``--other-stores`` the stores may differ (two builds of the
same voices with other synthetic presets for training, say) as long as the items are the same voices: the script
opens both stores and checks each item's source. For every audio metric it prints the two means with 95% bootstrap
intervals (:func:`patchflow.evaluation.metrics.bootstrap_ci`), the ratio of the means (A / B, so below 1 is A
better, except for metrics where higher is better), the shares of items where each is better and the paired
two-sided Wilcoxon signed-rank p-value (:func:`patchflow.evaluation.metrics.paired_comparison`).

Example::

    python scripts/compare_reports.py build/quality/report "flow_gen + refinement" \\
        build/quality/report-21-neighbours "retrieval + refinement" --domain test --json fair.json
    python scripts/compare_reports.py demo-perturbed/report flow_gen demo-random/report flow_gen --other-stores
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from patchflow.data.splits import portable_sources
from patchflow.data.store import open_store
from patchflow.evaluation.audio_metrics import HIGHER_IS_BETTER
from patchflow.evaluation.metrics import bootstrap_ci, paired_comparison


class ReportError(ValueError):
    """The reports cannot be compared (a missing row or domain, other items)."""


def load_report(path: str | Path) -> dict[str, Any]:
    """A report's ``results.json``, given the file or the folder that holds it."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise ReportError(f"{path}: no such report (expected the results.json that `patchflow evaluate` writes)")
    return json.loads(path.read_text())


def row_scores(report: dict[str, Any], row: str, domain: str) -> dict[str, np.ndarray]:
    """The per-item scores of one row in one domain, as float arrays (``None``, a non-finite score, is NaN)."""
    per_item = report["per_item"]
    if row not in per_item:
        raise ReportError(f"no row {row!r}; the report has: {', '.join(per_item)}")
    if domain not in per_item[row]:
        raise ReportError(f"row {row!r} has no domain {domain!r}; it has: {', '.join(per_item[row])}")
    return {metric: np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            for metric, values in per_item[row][domain].items()}


def item_sources(report: dict[str, Any], rows: list[int]) -> list[str]:
    """The ``sources`` entries of a report's items, read from the store it scored."""
    path = Path(report["info"].get("store") or "")
    if not path.is_dir():
        raise ReportError(f"cannot check the items' voices: the report's store {str(path)!r} is not here")
    store = open_store(path)
    # relative to the folder the presets were read from, so that one corpus given by two paths compares equal
    sources = portable_sources(store.sources, (store.meta.get("inputs") or {}).get("files", {}))
    return [sources[row] for row in rows]


def compare(a: dict[str, Any], row_a: str, b: dict[str, Any], row_b: str, domain: str = "test",
            other_stores: bool = False) -> list[dict[str, Any]]:
    """Compare ``row_a`` of report ``a`` with ``row_b`` of report ``b`` on every metric both hold.

    With ``other_stores`` the reports may come from two stores whose items are the same voices (checked by their
    sources); otherwise they must come from one store.

    Raises:
        ReportError: A row or domain is missing, or the reports scored other stores or items.
    """
    items_a, items_b = a["items"].get(domain, {}).get("rows"), b["items"].get(domain, {}).get("rows")
    same_store = a["info"].get("store") == b["info"].get("store")
    if not same_store and not other_stores:
        raise ReportError(f"the reports scored other stores: {a['info'].get('store')} and {b['info'].get('store')} "
                          "(--other-stores pairs them if their items are the same voices)")
    if items_a != items_b:
        raise ReportError(f"the reports scored other items of {domain!r} ({len(items_a or [])} and "
                          f"{len(items_b or [])}): evaluate both with the same --max-items")
    if not same_store and domain != "test":
        raise ReportError(f"--other-stores pairs test items only (the reports do not say which {domain!r} set "
                          "they scored)")
    if not same_store:
        voices_a, voices_b = item_sources(a, items_a or []), item_sources(b, items_b or [])
        differ = sum(x != y for x, y in zip(voices_a, voices_b))
        if differ:
            raise ReportError(f"the stores hold other voices at {differ} of the {len(voices_a)} items: "
                              "they cannot be paired")
    scores_a, scores_b = row_scores(a, row_a, domain), row_scores(b, row_b, domain)
    rows = []
    for metric in [m for m in scores_a if m in scores_b]:
        x, y = scores_a[metric], scores_b[metric]
        if metric in HIGHER_IS_BETTER:
            pair = paired_comparison(-x, -y)  # "better" means higher here
        else:
            pair = paired_comparison(x, y)
        mean_a, mean_b = float(np.nanmean(x)), float(np.nanmean(y))
        rows.append({"metric": metric, "a": {"mean": mean_a, "ci": list(bootstrap_ci(x))},
                     "b": {"mean": mean_b, "ci": list(bootstrap_ci(y))},
                     "ratio": mean_a / mean_b if mean_b else float("nan"), **pair})
    return rows


def markdown(rows: list[dict[str, Any]], row_a: str, row_b: str) -> str:
    """The comparison as a markdown table."""
    lines = [f"| metric | A: {row_a} | B: {row_b} | A / B | A better | B better | Wilcoxon p |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        def cell(side: dict[str, Any]) -> str:
            low, high = side["ci"]
            return f"{side['mean']:.3f} [{low:.3f}, {high:.3f}]"
        lines.append(f"| {r['metric']} | {cell(r['a'])} | {cell(r['b'])} | {r['ratio']:.2f}x | "
                     f"{r['a_better']:.0%} | {r['b_better']:.0%} | {r['p_value']:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report_a", help="results.json of A, or its folder")
    parser.add_argument("row_a", help="A's row, as the report names it (e.g. 'flow_gen + refinement')")
    parser.add_argument("report_b", help="results.json of B, or its folder")
    parser.add_argument("row_b", help="B's row")
    parser.add_argument("--domain", default="test", help="the domain: test (default) or an out-of-domain set's name")
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    parser.add_argument("--other-stores", action="store_true",
                        help="pair reports of two stores whose items are the same voices (checked)")
    args = parser.parse_args(argv)
    try:
        rows = compare(load_report(args.report_a), args.row_a, load_report(args.report_b), args.row_b, args.domain,
                       args.other_stores)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(rows, args.row_a, args.row_b))
    if args.json:
        args.json.write_text(json.dumps({"a": [args.report_a, args.row_a], "b": [args.report_b, args.row_b],
                                         "domain": args.domain, "metrics": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
