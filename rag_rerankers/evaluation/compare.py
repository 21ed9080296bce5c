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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag_rerankers.evaluation.comparison import Comparison
from rag_rerankers.evaluation.dataset import EvalDataset
from rag_rerankers.evaluation.metrics import DEFAULT_METRICS
from rag_rerankers.evaluation.report import write_outputs
from rag_rerankers.evaluation.runner import (
    RunResult,
    SpecLike,
    evaluate,
    first_stage_result,
    is_first_stage,
    spec_label,
)

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
    dataset: EvalDataset,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    rel: int = 1,
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = False,
    plots: bool = True,
) -> Comparison:
    """Evaluate every spec on the same candidates; the first-stage order is always the first
    row and the baseline of the significance test.

    With ``out_dir``, per-query records go to ``out_dir/per_query.jsonl`` as they are made
    (an interrupted run resumes from it), and ``compare.json``, ``compare.csv`` and the plots
    ``quality_vs_latency.png`` and ``metrics.png`` are written at the end. ``progress=True``
    shows a tqdm bar per run (the CLI's default; a library call prints nothing by default).
    """
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
    cmp = Comparison(dataset=dataset.stats(), metrics=metrics, results=results, errors=errors)
    cmp.significance = {r.label: paired_test(r, cmp.baseline) for r in results[1:]}
    if out is not None:
        write_outputs(cmp, out, plots=plots)
    return cmp
