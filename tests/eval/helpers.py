"""Helpers for the evaluation tests: tiny datasets and scripted rerankers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from rag_rerankers.base import Reranker
from rag_rerankers.evaluation import EvalDataset
from rag_rerankers.types import ScoreType

ROOT = Path(__file__).resolve().parents[2]


def tiny_dataset(n_queries: int = 6) -> EvalDataset:
    """Each query ``qI`` has candidates d0..d4 in first-stage order; only ``d3`` is relevant
    (grade 2) and ``d4`` partly (grade 1), so the first stage is poor and the oracle perfect."""
    queries = {f"q{i}": f"question number {i} about topic{i}" for i in range(n_queries)}
    candidates = {
        q: [(f"{q}-d{j}", f"passage {j} " + (f"topic{q[1:]} answer" if j == 3 else "noise"))
            for j in range(5)]
        for q in queries
    }
    qrels = {q: {f"{q}-d3": 2, f"{q}-d4": 1, f"{q}-d0": 0} for q in queries}
    return EvalDataset.from_memory(queries, candidates, qrels, name="tiny")


class KeywordReranker(Reranker):
    """Scores 1 for candidates containing 'answer', else 0; counts the queries it sees and can
    fail (``fail_on``) or be interrupted (``interrupt_after``) on purpose."""

    backend = "keyword"
    score_type = ScoreType.UNBOUNDED

    def __init__(self, fail_on: Sequence[str] = (), interrupt_after: int | None = None,
                 reverse: bool = False) -> None:
        super().__init__(model=None)
        self.fail_on = set(fail_on)
        self.interrupt_after = interrupt_after
        self.reverse = reverse
        self.seen: list[str] = []

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        if self.interrupt_after is not None and len(self.seen) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.seen.append(query)
        if any(word in query for word in self.fail_on):
            raise RuntimeError("provider exploded")
        scores = [1.0 if "answer" in d else 0.0 for d in documents]
        return [-s for s in scores] if self.reverse else scores


class PricedReranker(KeywordReranker):
    """Pretends to be the ``cohere`` backend, to exercise cost estimates offline."""

    backend = "cohere"

    def __init__(self) -> None:
        super().__init__()
        self.model = "rerank-v3.5"


def trec_dl19_dir() -> Path | None:
    """``../shared/data/trec-dl19`` relative to the repository root (for a git worktree, also
    relative to the main checkout), or ``$RAG_RERANKERS_TREC_DL19``; ``None`` when absent."""
    candidates = []
    if os.environ.get("RAG_RERANKERS_TREC_DL19"):
        candidates.append(Path(os.environ["RAG_RERANKERS_TREC_DL19"]))
    candidates.append(ROOT.parent / "shared" / "data" / "trec-dl19")
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=ROOT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        if common:
            candidates.append(Path(common).parent.parent / "shared" / "data" / "trec-dl19")
    except (OSError, subprocess.SubprocessError):
        pass
    for path in candidates:
        if (path / "bm25_top100_dl19.json").exists() and (path / "qrels.dl19-passage.txt").exists():
            return path
    return None
