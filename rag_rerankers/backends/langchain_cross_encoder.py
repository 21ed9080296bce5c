"""Interop: any LangChain ``BaseCrossEncoder`` (e.g. ``HuggingFaceCrossEncoder``) as a backend.

:func:`rag_rerankers.init_reranker` wraps such an object automatically, so it works wherever a
config string does (``RerankCompressor(reranker=HuggingFaceCrossEncoder(...))``). Scores are
whatever the object's ``score`` returns; calls are serialized by a lock because most
cross-encoder objects (tokenizers in particular) are not thread-safe.

Example:
    >>> from langchain_core.cross_encoders import BaseCrossEncoder
    >>> class Overlap(BaseCrossEncoder):
    ...     def score(self, text_pairs):
    ...         return [len(set(q.split()) & set(d.split())) for q, d in text_pairs]
    >>> from rag_rerankers import init_reranker
    >>> rr = init_reranker(Overlap())
    >>> [i.index for i in rr.rank("red apples", ["blue sky", "red apples"])]
    [1, 0]
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

from rag_rerankers.base import Reranker
from rag_rerankers.errors import InvalidInputError
from rag_rerankers.types import ScoreType


def is_langchain_cross_encoder(obj: object) -> bool:
    """True for a ``langchain_core.cross_encoders.BaseCrossEncoder`` (no import if unloaded)."""
    module = sys.modules.get("langchain_core.cross_encoders")
    return module is not None and isinstance(obj, module.BaseCrossEncoder)


class LangChainCrossEncoderReranker(Reranker):
    """Rank with a LangChain ``BaseCrossEncoder``'s ``score(text_pairs)``."""

    backend = "langchain-cross-encoder"
    score_type = ScoreType.UNBOUNDED

    def __init__(self, cross_encoder: Any, *, top_n: int | None = None) -> None:
        if not is_langchain_cross_encoder(cross_encoder):
            raise InvalidInputError(
                "cross_encoder must be a langchain_core.cross_encoders.BaseCrossEncoder, got "
                f"{type(cross_encoder).__name__}"
            )
        name = getattr(cross_encoder, "model_name", None)
        super().__init__(model=name if isinstance(name, str) else type(cross_encoder).__name__,
                         top_n=top_n)
        self.cross_encoder = cross_encoder
        self._lock = threading.Lock()

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        with self._lock:
            scores = self.cross_encoder.score([(query, doc) for doc in documents])
        return [float(s) for s in scores]
