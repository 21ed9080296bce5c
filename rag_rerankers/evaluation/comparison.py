"""The result of :func:`rag_rerankers.evaluation.compare`: plain data, no I/O.

:mod:`rag_rerankers.evaluation.compare` builds a :class:`Comparison`;
:mod:`rag_rerankers.evaluation.report` turns one into tables, files and plots. Neither of
those imports the other's caller, so this module is where both meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.evaluation.runner import RunResult


@dataclass
class Comparison:
    """Results of :func:`compare`: one :class:`RunResult` per spec, the baseline first."""

    dataset: dict[str, Any]
    metrics: list[str]
    results: list[RunResult]
    significance: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    judging: dict[str, Any] | None = None
    """With a judge: pooled pairs, judged, cached, invalid and failed replies, tokens, cost
    (:meth:`~rag_rerankers.evaluation.judge.JudgeReport.to_dict`)."""

    @property
    def baseline(self) -> RunResult:
        return self.results[0]

    @property
    def significance_metric(self) -> str:
        """The metric of the significance test (``nDCG@10``)."""
        return next((s["metric"] for s in self.significance.values() if "metric" in s), "nDCG@10")

    def to_dict(self, *, include_per_query: bool = True) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "metrics": self.metrics,
            "baseline": self.baseline.label,
            "results": [r.to_dict(include_per_query=include_per_query) for r in self.results],
            "significance": self.significance,
            "errors": self.errors,
            **({"judging": self.judging} if self.judging is not None else {}),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows (one per run) for CSV files and tables."""
        rows = []
        llm = any(r.llm_usage for r in self.results)
        for r in self.results:
            sig = self.significance.get(r.label, {})
            lat = r.latency or {}
            rows.append({
                "run": r.label,
                **{m: r.metrics.get(m) for m in self.metrics},
                "mean_diff": sig.get("mean_diff"),  # signed: a drop is negative
                "p_value": sig.get("p_value"),
                "p50_ms": lat.get("p50_ms"),
                "p95_ms": lat.get("p95_ms"),
                "docs_per_s": lat.get("docs_per_s"),
                "cost_usd": r.cost_usd,
                "queries": r.n_queries,
                "failed": r.n_failed,
            })
            if llm:  # LLM rerankers: calls and tokens per query (columns only when one ran)
                usage = r.llm_usage or {}
                for name in ("llm_calls", "input_tokens", "output_tokens"):
                    rows[-1][f"{name}_per_query"] = usage.get(f"{name}_per_query")
        return rows
