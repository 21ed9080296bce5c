"""Evaluate and compare rerankers: quality (ir-measures), latency and cost, on your data.

Core module: it never imports LangChain or LlamaIndex. Heavy libraries (ir-measures, scipy,
matplotlib, rich) are imported only when used; install them with ``pip install
"rag-rerankers[eval]"``.

Example:
    >>> from rag_rerankers.evaluation import EvalDataset, evaluate
    >>> ds = EvalDataset.from_memory(
    ...     queries={"q1": "bicycle chain"},
    ...     candidates={"q1": [("d1", "baking bread"), ("d2", "oil the bicycle chain")]},
    ...     qrels={"q1": {"d2": 1}})
    >>> evaluate("bm25", ds, ["nDCG@10"], progress=False).metrics
    {'nDCG@10': 1.0}
"""

from rag_rerankers.evaluation.compare import compare, paired_test
from rag_rerankers.evaluation.comparison import Comparison
from rag_rerankers.evaluation.dataset import Candidate, EvalDataset
from rag_rerankers.evaluation.metrics import DEFAULT_METRICS, parse_metrics, per_query
from rag_rerankers.evaluation.pricing import PRICES, estimate_cost
from rag_rerankers.evaluation.readers import (
    load_beir,
    load_candidates_json,
    load_dataset,
    load_ir_datasets,
    load_qrels,
    load_trec_run,
    sample_dataset,
)
from rag_rerankers.evaluation.runner import (
    FIRST_STAGE,
    QueryRecord,
    ResultStore,
    RunResult,
    evaluate,
    first_stage_result,
)

__all__ = [
    "DEFAULT_METRICS",
    "FIRST_STAGE",
    "PRICES",
    "Candidate",
    "Comparison",
    "EvalDataset",
    "QueryRecord",
    "ResultStore",
    "RunResult",
    "compare",
    "estimate_cost",
    "evaluate",
    "first_stage_result",
    "load_beir",
    "load_candidates_json",
    "load_dataset",
    "load_ir_datasets",
    "load_qrels",
    "load_trec_run",
    "paired_test",
    "parse_metrics",
    "per_query",
    "sample_dataset",
]
