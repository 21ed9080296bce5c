"""Ranking controls applied by :meth:`rag_rerankers.Reranker.rank` to every backend.

- :mod:`~rag_rerankers.controls.normalize`: comparable scores (``normalize``).
- :mod:`~rag_rerankers.controls.cache`: the opt-in result cache (``cache``).
- :mod:`~rag_rerankers.controls.chunk`: long documents (``long_docs``, ``chunk_size``, ``pooling``).
- :mod:`~rag_rerankers.controls.text`: what the reranker reads (``rank_fields``), ``dedup``.
- :mod:`~rag_rerankers.controls.setup`: option checks, fallback chains (``fallbacks``, ``on_error``).
- :mod:`~rag_rerankers.controls.pipeline`: the one pipeline that applies them, sync and async.
"""

from rag_rerankers.controls.cache import DiskCache, MemoryCache, ScoreCache
from rag_rerankers.controls.normalize import normalize_scores
from rag_rerankers.controls.setup import Controls, RankingSetup

__all__ = [
    "Controls",
    "DiskCache",
    "MemoryCache",
    "RankingSetup",
    "ScoreCache",
    "normalize_scores",
]
