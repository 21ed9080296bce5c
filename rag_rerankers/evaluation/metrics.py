"""Ranking metrics through ir-measures (pytrec_eval computes nDCG, P, R and AP; ir-measures'
``msmarco`` provider computes RR@k, which pytrec_eval lacks). Nothing is hand-rolled here:
this module only names measures and turns rankings into runs.

Friendly names map to ir-measures measures: ``nDCG@k``, ``MRR@k`` (``RR@k``), ``Recall@k``
(``R@k``), ``P@k``, ``MAP`` (``AP``); any other ir-measures name (``"RR(rel=2)@10"``,
``"Judged@10"``) is passed through. ``rel`` sets the minimum grade counted relevant by the
binary measures (TREC DL reports MRR and MAP with ``rel=2``).

Example:
    >>> [str(m) for m in parse_metrics(["nDCG@10", "MRR@10", "MAP"], rel=2).values()]
    ['nDCG@10', 'RR(rel=2)@10', 'AP(rel=2)']
    >>> qrels = {"q": {"a": 1, "b": 0}}
    >>> per_query({"q": ["b", "a"]}, qrels, ["nDCG@10", "MRR@10"])["q"]
    {'nDCG@10': 0.6309297535714575, 'MRR@10': 0.5}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rag_rerankers.errors import ConfigError

DEFAULT_METRICS: tuple[str, ...] = ("nDCG@10", "MRR@10", "Recall@10", "P@10", "MAP")

_ALIASES = {
    "ndcg": "nDCG",
    "mrr": "RR",
    "rr": "RR",
    "recall": "R",
    "r": "R",
    "p": "P",
    "precision": "P",
    "map": "AP",
    "ap": "AP",
}
_BINARY = {"RR", "R", "P", "AP"}
_FRIENDLY = re.compile(r"^([A-Za-z]+)(?:@(\d+))?$")


def parse_metric(name: str, rel: int = 1) -> Any:
    """One metric name -> an ir-measures measure (see the module docstring)."""
    import ir_measures

    m = _FRIENDLY.match(name.strip())
    if m and m.group(1).lower() in _ALIASES:
        base = _ALIASES[m.group(1).lower()]
        text = base
        if base in _BINARY and rel != 1:
            text += f"(rel={rel})"
        if m.group(2):
            text += f"@{m.group(2)}"
        return ir_measures.parse_measure(text)
    try:
        return ir_measures.parse_measure(name.strip())
    except (ValueError, NameError, SyntaxError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"unknown metric {name!r}: use nDCG@k, MRR@k, Recall@k, P@k, MAP or an ir-measures "
            f"name such as 'RR(rel=2)@10' ({exc})"
        ) from None


def parse_metrics(names: Sequence[str], rel: int = 1) -> dict[str, Any]:
    """Display name -> ir-measures measure, in the given order."""
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if not names:
        raise ConfigError("give at least one metric")
    return {n.strip(): parse_metric(n, rel) for n in names}


def to_run(rankings: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """Rankings (doc ids, best first) -> an ir-measures run with strictly decreasing scores.

    trec_eval sorts by score and breaks ties by doc id, so the scores must come from the ranks
    (never from a reranker's raw scores, which may tie) for the metrics to see our order.
    """
    return {
        q: {d: float(len(docs) - i) for i, d in enumerate(docs)}
        for q, docs in rankings.items()
        if docs
    }


def per_query(
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Sequence[str] | Mapping[str, Any] = DEFAULT_METRICS,
    *,
    rel: int = 1,
    qids: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Per-query values of every metric.

    Queries in ``qids`` (default: every ranked query that has judgements) with no ranking --
    e.g. a query whose reranking failed -- get 0 for every metric rather than being dropped,
    so a failing reranker cannot look better by skipping hard queries.
    """
    import ir_measures

    measures = metrics if isinstance(metrics, Mapping) else parse_metrics(metrics, rel)
    by_measure = {m: name for name, m in measures.items()}
    if qids is None:
        qids = [q for q in rankings if q in qrels]
    wanted = set(qids)
    run = {q: r for q, r in to_run(rankings).items() if q in wanted}
    judged = {q: dict(j) for q, j in qrels.items() if q in wanted}
    out: dict[str, dict[str, float]] = {q: dict.fromkeys(measures, 0.0) for q in qids}
    if run and judged:
        for metric in ir_measures.iter_calc(list(measures.values()), judged, run):
            out[metric.query_id][by_measure[metric.measure]] = float(metric.value)
    return out


def mean(values: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> dict[str, float]:
    """Mean over queries of each metric (what trec_eval and ir-measures report as aggregate)."""
    n = len(values)
    return {name: (sum(v[name] for v in values.values()) / n if n else 0.0) for name in names}
