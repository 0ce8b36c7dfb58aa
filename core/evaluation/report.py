"""Writing an evaluation out: Markdown tables in the layout of the paper's Table 1 (with the audio metrics of
:mod:`patchflow.evaluation.audio_metrics` and confidence intervals), a JSON file, figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import Evaluation

#: ``(metric, column header, digits)`` of the audio columns, in order.
AUDIO_COLUMNS = (("sc", "SC", 3), ("spec_mse", "Spec. MSE", 3), ("sc_paper", "SC (paper)", 3),
                 ("log_ratio_paper", "Log ratio (paper)", 3), ("mss", "MSS (dB)", 2), ("wmfcc", "wMFCC", 2),
                 ("sot", "SOT", 4), ("env_cos", "RMS cos. ↑", 3))
#: The parameter columns of the test split.
PARAMETER_COLUMNS = (("param_mse", "MSE_n (params)", 4), ("accuracy", "Acc. (classes) ↑", 3))


def _mean_ci(stats: dict[str, float] | None, digits: int = 3) -> str:
    """``mean ± h``, ``h`` the half-width of the confidence interval (``–`` when there is nothing to show)."""
    if not stats or stats.get("n", 0) == 0 or math.isnan(stats["mean"]):
        return "–"
    low, high = stats.get("ci_low", float("nan")), stats.get("ci_high", float("nan"))
    if math.isnan(low) or math.isnan(high):
        return f"{stats['mean']:.{digits}f}"
    return f"{stats['mean']:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def _median(stats: dict[str, float] | None, digits: int = 3) -> str:
    if not stats or stats.get("n", 0) == 0 or math.isnan(stats["median"]):
        return "–"
    return f"{stats['median']:.{digits}f}"


def _domain_table(evaluation: Evaluation, summary: dict[str, Any], domain: str, with_params: bool) -> list[str]:
    columns = (PARAMETER_COLUMNS if with_params else ()) + AUDIO_COLUMNS
    headers = ["Model"]
    for key, header, _ in columns:
        headers += [header, "SC median"] if key == "sc" else [header]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for row in evaluation.rows:
        scores = summary[row.name].get(domain, {})
        cells = [row.name if row.kind != "reference" else f"*{row.name}*"]
        for key, _, digits in columns:
            cells.append(_mean_ci(scores.get(key), digits))
            if key == "sc":
                cells.append(_median(scores.get(key), digits))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_table(evaluation: Evaluation) -> str:
    """The results as Markdown: one table for the test split (models as rows; parameter metrics, then every
    audio metric), one per out-of-domain set (audio only), each cell the mean ± the half-width of its 95%
    bootstrap confidence interval; then the paired comparisons of the test SC."""
    summary = evaluation.summary()
    info = evaluation.info
    level = info.get("confidence_interval", {}).get("level", 0.95)
    out = [f"# Evaluation on `{info['store']}`", "",
           f"Synth `{info['synth']}`, {len(info['parameters'])} parameters, {info['test_items']} test items "
           f"(training split: {info['train_items']}). Audio is re-rendered at note {info['render_settings']['note']}, "
           f"velocity {info['render_settings']['velocity']} (the targets' settings).", "",
           "## Test split", "", *_domain_table(evaluation, summary, "test", with_params=True), ""]
    for domain in evaluation.domains[1:]:
        out += [f"## Out-of-domain set `{domain.name}` ({len(domain.rows)} items, audio only)", "",
                *_domain_table(evaluation, summary, domain.name, with_params=False), ""]
    out += [f"Each cell: mean ± half-width of its {level:.0%} bootstrap confidence interval over the items "
            "(exact bounds, standard deviations and medians in results.json). "
            "SC: spectral convergence ||S - S_hat||_F / ||S||_F on linear-magnitude mel spectrograms; Spec. MSE: "
            "mean squared difference of their natural logarithms (floor 1e-3); SC (paper), Log ratio (paper): the "
            "Flow Synthesizer code's SC on 64-band power mels and its log-magnitude ratio; MSS: multi-scale mel "
            "distance in dB; wMFCC: MFCC distance after dynamic time warping; SOT: spectral optimal transport; "
            "RMS cos.: cosine similarity of the RMS envelopes; MSE_n: parameters normalised to [0, 1]. "
            "Rows in italics are references that use no model. Lower is better except where marked ↑.", ""]
    counts = info.get("candidates") or {}
    if counts:
        listed = ", ".join(f"{name} {k}" for name, k in counts.items())
        out += [f"Search rows render and rank each item's candidates, then refine the best for "
                f"{info['settings']['refine_budget']:g} s (the ranking is not counted in that time). Candidates "
                f"per item: {listed}.", ""]
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
                       title: str = "", features: Any = None) -> Path:
    """Save a figure of a target magnitude mel spectrogram beside estimates, each titled with its SC.

    Every panel shares one colour scale in dB (``20 log10`` of the magnitude, down to 80 dB below the target's
    peak), drawn as a colour bar.

    Args:
        target: Target magnitude mel spectrogram ``(n_mels, frames)``.
        estimates: ``(label, spectrogram, sc)`` triples.
        path: PNG file to write.
        title: Figure title.
        features: The :class:`~patchflow.data.features.FeatureSettings` of the spectrograms: with them the axes
            read seconds and Hz (the centre frequencies of the mel bands), without them frames and mel bands.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("target", target, None)] + list(estimates)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels) + 0.8, 2.8), squeeze=False, sharey=True,
                             layout="constrained")
    floor = 20 * np.log10(max(float(np.max(target)), 1e-5)) - 80
    n_mels, frames = np.shape(target)[-2:]
    extent = None
    if features is not None:
        extent = (0.0, frames * features.hop / features.sample_rate, -0.5, n_mels - 0.5)
    image = None
    for ax, (label, spec, sc) in zip(axes[0], panels):
        db = 20 * np.log10(np.maximum(spec, 1e-5))
        image = ax.imshow(np.maximum(db, floor), origin="lower", aspect="auto", cmap="magma", vmin=floor,
                          vmax=floor + 80, extent=extent)
        ax.set_title(label if sc is None else f"{label}\nSC {sc:.3f}", fontsize=8)
        ax.set_xlabel("time (s)" if features is not None else "frame", fontsize=7)
        ax.tick_params(labelsize=6)
    if features is not None:
        ticks, labels = _mel_ticks(features, n_mels)
        axes[0][0].set_yticks(ticks, labels)
    axes[0][0].set_ylabel("frequency (Hz)" if features is not None else "mel band", fontsize=7)
    bar = fig.colorbar(image, ax=list(axes[0]), fraction=0.04, pad=0.02)
    bar.set_label("level (dB)", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Hz to Slaney's mel scale (linear below 1 kHz, logarithmic above), the scale of the features' filters."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), linear)


def _mel_ticks(features: Any, n_mels: int) -> tuple[list[float], list[str]]:
    """Positions (mel-band indices) and labels of round frequencies within the features' mel range."""
    fmax = min(float(features.fmax), features.sample_rate / 2)
    low, high = _slaney_mel(np.array([float(features.fmin), fmax]))
    centres = np.linspace(low, high, n_mels + 2)[1:-1]  # band k is centred on the (k+1)-th of n_mels+2 points
    ticks, labels = [], []
    for hz in (50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if features.fmin <= hz <= fmax:
            ticks.append(float(np.interp(_slaney_mel(np.array(hz)), centres, np.arange(n_mels))))
            labels.append(f"{hz // 1000}k" if hz >= 1000 else str(hz))
    return ticks, labels


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
