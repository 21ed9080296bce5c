"""Helpers for the adapter tests: deterministic, meaningful embeddings for both frameworks."""

from __future__ import annotations

import hashlib
import math
import re

_WORD = re.compile(r"[a-z0-9]+")


def hashed_bag_of_words(text: str, dim: int = 256) -> list[float]:
    """A deterministic, normalized bag-of-words vector (texts sharing words are close)."""
    vec = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
        vec[h % dim] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


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
