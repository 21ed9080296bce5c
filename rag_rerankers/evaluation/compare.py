"""Compare several rerankers on the same candidates, against the first-stage order.

Example:
    >>> from rag_rerankers.evaluation.readers import sample_dataset
    >>> cmp = compare(["bm25"], sample_dataset(depth=5), progress=False)
    >>> [r.label for r in cmp.results]
    ['first-stage (bm25)', 'bm25']
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_rerankers.errors import ConfigError
from rag_rerankers.evaluation.comparison import Comparison
from rag_rerankers.evaluation.dataset import EvalDataset
from rag_rerankers.evaluation.metrics import DEFAULT_METRICS, mean, parse_metrics, per_query
from rag_rerankers.evaluation.report import write_outputs
from rag_rerankers.evaluation.runner import (
    RunResult,
    SpecLike,
    evaluate,
    first_stage_result,
    is_first_stage,
    spec_label,
)

if TYPE_CHECKING:
    from rag_rerankers.evaluation.judge import JudgeReport

logger = logging.getLogger("rag_rerankers.evaluation")

SIGNIFICANCE_METRIC = "nDCG@10"


def paired_test(
    run: RunResult, baseline: RunResult, metric: str = SIGNIFICANCE_METRIC
) -> dict[str, Any]:
    """Two-sided paired t-test (scipy ``ttest_rel``) of per-query ``metric`` values against the
    baseline's, over the queries both evaluated; the Wilcoxon signed-rank p-value is added
    as a check that does not assume normal differences."""
    from scipy import stats

    qids = [q for q in baseline.per_query if q in run.per_query]
    a = [run.per_query[q][metric] for q in qids]
    b = [baseline.per_query[q][metric] for q in qids]
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    out: dict[str, Any] = {
        "metric": metric, "test": "paired t-test", "n": len(qids),
        "mean_diff": (sum(diffs) / len(diffs)) if diffs else 0.0,
        "p_value": None, "wilcoxon_p": None,
    }
    if len(qids) >= 2 and any(d != 0 for d in diffs):
        # Constant differences (tiny or synthetic data) make scipy warn about precision; the
        # p-value it returns (0: a consistent shift) is still the right reading.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = stats.ttest_rel(a, b)
            out["p_value"] = None if math.isnan(t.pvalue) else float(t.pvalue)
            with contextlib.suppress(ValueError):
                out["wilcoxon_p"] = float(stats.wilcoxon(a, b).pvalue)
    elif len(qids) >= 2:
        out["p_value"] = 1.0  # identical per-query values: no difference at all
    return out


def compare(
    specs: Sequence[SpecLike],
    dataset: EvalDataset | Mapping[str, str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    rel: int = 1,
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = False,
    plots: bool = True,
    retriever: Any = None,
    depth: int | None = None,
    judge: Any = None,
    judge_depth: int = 10,
    judge_cache: str | Path | None = None,
) -> Comparison:
    """Evaluate every spec on the same candidates; the first-stage order is always the first
    row and the baseline of the significance test.

    With ``out_dir``, per-query records go to ``out_dir/per_query.jsonl`` as they are made
    (an interrupted run resumes from it), and ``compare.json``, ``compare.csv`` and the plots
    ``quality_vs_latency.png`` and ``metrics.png`` are written at the end. ``progress=True``
    shows a tqdm bar per run (the CLI's default; a library call prints nothing by default).

    Args:
        retriever: your own first stage (a LangChain retriever, a LlamaIndex retriever or
            index, or a function ``query -> documents``; see
            :mod:`rag_rerankers.evaluation.retrievers`): it retrieves the candidates of
            ``dataset``'s queries (``dataset`` may then be just ``{query id: text}``), at most
            ``depth`` per query.
        judge: grade the pooled top ``judge_depth`` of every run (first stage included) with a
            judge instead of ``dataset``'s qrels: ``"llm:<provider>:<model>"``, a chat model,
            a :class:`~rag_rerankers.evaluation.judge.Judge` or a function ``(query, passage)
            -> grade`` (see :mod:`rag_rerankers.evaluation.judge`). Judgements are cached in
            ``judge_cache`` (default ``out_dir/judgements.jsonl``); the counts and cost are in
            :attr:`Comparison.judging`, the graded qrels in ``out_dir/judged_qrels.txt``.
    """
    if retriever is not None:
        from rag_rerankers.evaluation.retrievers import dataset_from_retriever

        if isinstance(dataset, EvalDataset):
            dataset = dataset_from_retriever(
                retriever, dataset.queries, dataset.qrels if judge is None else None,
                depth=depth, name=dataset.name)
        else:
            dataset = dataset_from_retriever(retriever, dataset, depth=depth)
    elif not isinstance(dataset, EvalDataset):
        raise ConfigError("compare needs an EvalDataset, or queries together with a retriever")
    if judge is not None:
        # Every query with candidates is evaluated; its qrels come from the judge afterwards.
        dataset = replace(dataset, qrels={q: {} for q, c in dataset.candidates.items() if c})
    metrics = list(metrics)
    if SIGNIFICANCE_METRIC not in metrics:
        metrics.append(SIGNIFICANCE_METRIC)
    out = Path(out_dir) if out_dir is not None else None
    jsonl = out / "per_query.jsonl" if out is not None else None
    results = [first_stage_result(dataset, metrics, rel=rel)]
    errors: dict[str, str] = {}
    seen: dict[str, int] = {}
    for spec in specs:
        if is_first_stage(spec):
            continue
        label = spec_label(spec)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        try:
            results.append(evaluate(spec, dataset, metrics, rel=rel, results_path=jsonl,
                                    resume=resume, progress=progress, label=label))
        except Exception as exc:  # a spec that cannot be built must not stop the others
            logger.error("%s could not be evaluated: %s", label, exc)
            errors[label] = f"{type(exc).__name__}: {exc}"
    judging = None
    if judge is not None:
        results, judging = _judged(results, dataset, metrics, rel=rel, judge=judge,
                                   depth=judge_depth, progress=progress,
                                   cache=judge_cache or (out / "judgements.jsonl" if out else None))
    cmp = Comparison(dataset=dataset.stats(), metrics=metrics, results=results, errors=errors)
    if judging is not None:
        cmp.judging = judging.to_dict()
        if out is not None:
            from rag_rerankers.evaluation.judge import write_trec_qrels

            write_trec_qrels(judging.qrels, out / "judged_qrels.txt")
    cmp.significance = {r.label: paired_test(r, cmp.baseline) for r in results[1:]}
    if out is not None:
        write_outputs(cmp, out, plots=plots)
    return cmp


def _judged(
    results: list[RunResult],
    dataset: EvalDataset,
    metrics: Sequence[str],
    *,
    rel: int,
    judge: Any,
    depth: int,
    progress: bool,
    cache: str | Path | None,
) -> tuple[list[RunResult], JudgeReport]:
    """Pool every run's top ``depth``, have the judge grade it, and score the runs again on
    those grades."""
    from rag_rerankers.evaluation.judge import judge_pool, make_judge, pool

    pooled = pool([r.rankings for r in results], depth)
    report = judge_pool(dataset, pooled, make_judge(judge), cache=cache, depth=depth,
                        progress=progress)
    measures = parse_metrics(metrics, rel)
    qids = dataset.evaluated_qids
    rescored = []
    for r in results:
        pq = per_query(r.rankings, report.qrels, measures, qids=qids)
        rescored.append(replace(r, per_query=pq, metrics=mean(pq, list(measures))))
    return rescored, report
