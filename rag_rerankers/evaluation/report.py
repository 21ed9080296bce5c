"""Everything shown or written about results: terminal tables (rich), the ``compare.json`` /
``compare.csv`` files and plots (matplotlib's object API: no display needed, and pyplot's
global backend and figure list are left as the caller set them).

This module only reads results (:class:`~rag_rerankers.evaluation.comparison.Comparison`,
:class:`~rag_rerankers.evaluation.runner.RunResult`); it never runs an evaluation, so
:mod:`rag_rerankers.evaluation.compare` can call it without a cycle.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_rerankers.evaluation.comparison import Comparison
    from rag_rerankers.evaluation.runner import RunResult


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def _diff(diff: float | None, p: float | None) -> str:
    """The signed mean difference from the baseline and its p-value: ``-0.2016 (p=1.2e-05)``."""
    if diff is None:
        return "-"
    return f"{diff:+.4f} (p={_p(p)})"


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def comparison_table(cmp: Comparison) -> Any:
    """A ``rich.table.Table`` with one row per run."""
    from rich.table import Table

    ds = cmp.dataset
    table = Table(
        title=f"{ds['name']}: {ds['queries']} queries, {ds['candidates']} candidates "
        f"(first stage: {ds['first_stage']})"
    )
    table.add_column("run", no_wrap=True)
    for m in cmp.metrics:
        table.add_column(m, justify="right")
    rows = cmp.rows()
    llm = bool(rows) and "llm_calls_per_query" in rows[0]
    llm_cols = ("LLM calls/q", "tokens in/q", "tokens out/q") if llm else ()
    # The difference is signed so that a significant drop cannot read like a win.
    for col in (f"{cmp.significance_metric} diff (p)", "p50 ms", "p95 ms", "docs/s", *llm_cols,
                "cost $", "failed"):
        table.add_column(col, justify="right")
    for row in rows:
        usage = [_fmt(row[f"{n}_per_query"], 1)
                 for n in ("llm_calls", "input_tokens", "output_tokens")] if llm else []
        table.add_row(
            row["run"],
            *(_fmt(row[m]) for m in cmp.metrics),
            _diff(row["mean_diff"], row["p_value"]) if row["run"] != cmp.baseline.label
            else "baseline",
            _fmt(row["p50_ms"], 1),
            _fmt(row["p95_ms"], 1),
            _fmt(row["docs_per_s"], 1),
            *usage,
            _cost(row["cost_usd"]),
            str(row["failed"]),
        )
    return table


def result_table(result: RunResult, dataset: dict[str, Any]) -> Any:
    """A ``rich.table.Table`` for one run (``rag-rerankers eval``)."""
    from rich.table import Table

    table = Table(title=f"{result.label} on {dataset['name']} ({result.n_queries} queries)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, _fmt(value))
    lat = result.latency or {}
    table.add_row("latency p50 (ms/query)", _fmt(lat.get("p50_ms"), 1))
    table.add_row("latency p95 (ms/query)", _fmt(lat.get("p95_ms"), 1))
    table.add_row("documents/s", _fmt(lat.get("docs_per_s"), 1))
    if result.llm_usage:
        for name, label in (("llm_calls", "LLM calls"), ("input_tokens", "input tokens"),
                            ("output_tokens", "output tokens")):
            table.add_row(f"{label} (per query)", _fmt(result.llm_usage[f"{name}_per_query"], 1))
    table.add_row("estimated cost", _cost(result.cost_usd))
    table.add_row("failed queries", str(result.n_failed))
    return table


def _figure(figsize: tuple[float, float]) -> tuple[Any, Any]:
    # A bare Figure renders through its own Agg canvas on savefig, without pyplot.
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def plot_quality_latency(cmp: Comparison, path: str | Path, metric: str = "nDCG@10") -> Path:
    """Quality (``metric``) against median latency per query; the first stage (no reranking
    latency) is drawn as a horizontal line."""
    fig, ax = _figure((7, 4.5))
    base = cmp.baseline
    ax.axhline(base.metrics[metric], color="grey", linestyle="--", label=base.label)
    xs = []
    for r in cmp.results[1:]:
        if r.latency is None:
            continue
        x, y = r.latency["p50_ms"], r.metrics[metric]
        xs.append(x)
        ax.scatter([x], [y], s=50)
        ax.annotate(r.label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.margins(x=0.25, y=0.1)  # room for the labels of the outermost points
    ax.set_xlabel("median latency per query (ms)")
    ax.set_ylabel(metric)
    ax.set_title(f"{cmp.dataset['name']}: {metric} vs latency")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def plot_metrics(cmp: Comparison, path: str | Path) -> Path:
    """Grouped bars: one group per metric, one bar per run."""
    n = len(cmp.results)
    width = 0.8 / max(n, 1)
    fig, ax = _figure((max(6, 1.6 * len(cmp.metrics)), 4.5))
    for i, r in enumerate(cmp.results):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(cmp.metrics))]
        ax.bar(xs, [r.metrics.get(m, 0.0) for m in cmp.metrics], width, label=r.label)
    ax.set_xticks(range(len(cmp.metrics)))
    ax.set_xticklabels(cmp.metrics)
    ax.set_ylim(0, 1)
    ax.set_title(f"{cmp.dataset['name']}: metrics per run")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def write_outputs(cmp: Comparison, out: Path, *, plots: bool = True) -> dict[str, str]:
    """Write ``compare.json``, ``compare.csv`` and (with ``plots``) the two PNG plots."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "compare.json", "csv": out / "compare.csv"}
    files["json"].write_text(json.dumps(cmp.to_dict(), indent=2, default=_json_default) + "\n")
    rows = cmp.rows()
    with open(files["csv"], "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if plots:
        files["quality_vs_latency"] = plot_quality_latency(cmp, out / "quality_vs_latency.png")
        files["metrics"] = plot_metrics(cmp, out / "metrics.png")
    if (out / "per_query.jsonl").exists():
        files["per_query"] = out / "per_query.jsonl"
    cmp.files = {k: str(v) for k, v in files.items()}
    return cmp.files


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
