"""``fusion=rrf``: reciprocal-rank fusion of the reranker's order with the input order.

The input order is taken as the first stage's ranking (the order the retriever returned).
Each candidate's fused score is

    1 / (rrf_k + reranker rank) + 1 / (rrf_k + input rank)

with 1-based ranks and ``rrf_k`` = 60 by default (Cormack, Clarke and Buettcher, SIGIR 2009).
This is how a lexical score (BM25) is usually combined with a dense retriever: neither list's
scores need to be on the same scale, only their orders count. The fused scores are
rank-derived: at most ``2 / (rrf_k + 1)``, meaningful only within one result list.

Example:
    >>> rrf([1, 2, 0], k=0)  # the reranker puts input 1 first, then 2, then 0
    ([1.3333333333333333, 1.5, 0.8333333333333333], [3, 1, 2])
"""

from __future__ import annotations

from collections.abc import Sequence

FUSION_MODES = ("none", "rrf")
RRF_K = 60


def rrf(order: Sequence[int], k: int = RRF_K) -> tuple[list[float], list[int]]:
    """Fuse the reranker's order (input positions, best first) with the input order.

    Returns each input position's fused score and its rank in the reranker's order.
    """
    reranker_rank = [0] * len(order)
    for rank, i in enumerate(order, start=1):
        reranker_rank[i] = rank
    fused = [1 / (k + reranker_rank[i]) + 1 / (k + i + 1) for i in range(len(order))]
    return fused, reranker_rank
