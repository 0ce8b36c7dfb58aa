"""Writing an evaluation out: a Markdown table in the layout of the paper's Table 1, a JSON file, figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import Evaluation

def _mean_std(stats: dict[str, float] | None, digits: int = 3) -> str:
    if not stats or stats.get("n", 0) == 0 or math.isnan(stats["mean"]):
        return "–"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _median(stats: dict[str, float] | None, digits: int = 3) -> str:
    if not stats or stats.get("n", 0) == 0 or math.isnan(stats["median"]):
        return "–"
    return f"{stats['median']:.{digits}f}"


def markdown_table(evaluation: Evaluation) -> str:
    """The results as Markdown: models as rows; parameter and audio metrics on the test split, then the
    out-of-domain sets (audio only); then the paired comparisons of the test SC."""
    summary = evaluation.summary()
    ood = [d.name for d in evaluation.domains[1:]]
    headers = ["Model", "MSE_n (params)", "Acc. (classes)", "SC mean ± std", "SC median", "Spec. MSE mean ± std",
               "Spec. MSE median"]
    for name in ood:
        headers += [f"{name} SC mean ± std", f"{name} SC median", f"{name} Spec. MSE"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for row in evaluation.rows:
        test = summary[row.name].get("test", {})
        cells = [row.name if row.kind != "reference" else f"*{row.name}*", _mean_std(test.get("param_mse"), 4),
                 _mean_std(test.get("accuracy")), _mean_std(test.get("sc")), _median(test.get("sc")),
                 _mean_std(test.get("spec_mse")), _median(test.get("spec_mse"))]
        for name in ood:
            scores = summary[row.name].get(name, {})
            cells += [_mean_std(scores.get("sc")), _median(scores.get("sc")), _mean_std(scores.get("spec_mse"))]
        lines.append("| " + " | ".join(cells) + " |")
    info = evaluation.info
    out = [f"# Evaluation on `{info['store']}`", "",
           f"Synth `{info['synth']}`, {len(info['parameters'])} parameters, {info['test_items']} test items "
           f"(training split: {info['train_items']}). Audio is re-rendered at note {info['render_settings']['note']}, "
           f"velocity {info['render_settings']['velocity']} (the targets' settings).", "",
           "\n".join(lines), "",
           "SC: spectral convergence ||S - S_hat||_F / ||S||_F on linear-magnitude mel spectrograms; Spec. MSE: "
           "mean squared difference of their natural logarithms (floor 1e-3); MSE_n: parameters normalised to "
           "[0, 1]. Rows in italics are references that use no model. Lower is better except accuracy.", ""]
    comparisons = evaluation.comparisons("test", "sc")
    if comparisons:
        out += ["## Paired comparisons (test SC)", "",
                "| A | B | A better | B better | ties | Wilcoxon p |", "|---|---|---:|---:|---:|---:|"]
        for c in comparisons:
            p = "–" if math.isnan(c["p_value"]) else f"{c['p_value']:.3g}"
            out.append(f"| {c['a']} | {c['b']} | {c['a_better']:.0%} | {c['b_better']:.0%} | {c['ties']:.0%} | {p} |")
        out.append("")
    return "\n".join(out)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def report_json(evaluation: Evaluation) -> dict[str, Any]:
    """The results as JSON-ready data: info, summaries, comparisons and every per-item score."""
    return _json_ready({
        "info": evaluation.info,
        "summary": evaluation.summary(),
        "comparisons": {d.name: evaluation.comparisons(d.name, "sc") for d in evaluation.domains},
        "items": {d.name: {"rows": d.rows} for d in evaluation.domains},
        "per_item": {row.name: row.scores for row in evaluation.rows},
    })


def spectrogram_figure(target: np.ndarray, estimates: list[tuple[str, np.ndarray, float]], path: str | Path,
                       title: str = "") -> Path:
    """Save a figure of a target magnitude mel spectrogram beside estimates, each titled with its SC.

    Args:
        target: Target magnitude mel spectrogram ``(n_mels, frames)``.
        estimates: ``(label, spectrogram, sc)`` triples.
        path: PNG file to write.
        title: Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("target", target, None)] + list(estimates)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.8), squeeze=False, sharey=True)
    floor = 20 * np.log10(max(float(np.max(target)), 1e-5)) - 80
    for ax, (label, spec, sc) in zip(axes[0], panels):
        db = 20 * np.log10(np.maximum(spec, 1e-5))
        ax.imshow(np.maximum(db, floor), origin="lower", aspect="auto", cmap="magma")
        ax.set_title(label if sc is None else f"{label}\nSC {sc:.3f}", fontsize=8)
        ax.set_xlabel("frame", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel("mel band", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.md``, ``results.json`` and ``figures/<domain>-<k>.png`` into ``out_dir``.

    Returns:
        The written files by kind (``markdown``, ``json``, ``figures`` is the folder).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown_table(evaluation), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(report_json(evaluation), indent=1, allow_nan=False),
                                      encoding="utf-8")
    figures = out / "figures"
    for domain in evaluation.domains:
        for k in range(min(len(domain.rows), *(len(r.spectrograms.get(domain.name, [])) for r in evaluation.rows))):
            estimates = [(r.name, r.spectrograms[domain.name][k], float(r.scores[domain.name]["sc"][k]))
                         for r in evaluation.rows]
            spectrogram_figure(domain.spectrogram[k], estimates, figures / f"{domain.name}-{k}.png",
                               title=f"{domain.name} item {int(domain.rows[k])}")
    return {"markdown": out / "results.md", "json": out / "results.json", "figures": figures}
