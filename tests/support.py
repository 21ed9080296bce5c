"""Test helpers: a counting reranker and deterministic, meaningful embeddings for both frameworks."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from rag_rerankers.base import Reranker
from rag_rerankers.types import ScoreType

_WORD = re.compile(r"[a-z0-9]+")


def hashed_bag_of_words(text: str, dim: int = 256) -> list[float]:
    """A deterministic, normalized bag-of-words vector (texts sharing words are close)."""
    vec = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
        vec[h % dim] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class CountingReranker(Reranker):
    """Scores by the number of query words in the document; counts calls."""

    backend = "counting"
    score_type = ScoreType.UNBOUNDED

    def __init__(self, *, top_n: int | None = None) -> None:
        super().__init__(model=None, top_n=top_n)
        self.calls = 0
        self.acalls = 0

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.calls += 1
        words = set(_WORD.findall(query.lower()))
        return [float(len(words & set(_WORD.findall(d.lower())))) for d in documents]

    async def _ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        self.acalls += 1
        return self._score(query, documents)


class FixedScores(Reranker):
    """Returns the given scores (to test ties, NaN and wrong lengths)."""

    backend = "fixed"

    def __init__(self, scores: Sequence[float], *, top_n: int | None = None) -> None:
        super().__init__(model=None, top_n=top_n)
        self.scores = list(scores)

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        return self.scores


def langchain_embeddings():
    from langchain_core.embeddings import Embeddings

    class HashEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [hashed_bag_of_words(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return hashed_bag_of_words(text)

    return HashEmbeddings()


def llamaindex_embedding():
    from llama_index.core.embeddings import BaseEmbedding

    class HashEmbedding(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return hashed_bag_of_words(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return hashed_bag_of_words(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return hashed_bag_of_words(text)

    return HashEmbedding(model_name="hash-bow")
