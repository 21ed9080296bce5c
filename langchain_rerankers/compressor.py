"""LangChain adapter: :class:`RerankCompressor`, a ``BaseDocumentCompressor`` over any backend.

It only converts: documents in, texts to the core :class:`~rag_rerankers.Reranker`, new
documents out (in reranked order, ``metadata["relevance_score"]`` set, original metadata kept,
the inputs untouched).

Example:
    >>> from langchain_core.documents import Document
    >>> from langchain_rerankers import RerankCompressor
    >>> comp = RerankCompressor(reranker="bm25", top_n=1)
    >>> docs = [Document("baking bread"), Document("oil the bicycle chain", metadata={"id": 7})]
    >>> out = comp.compress_documents(docs, "bicycle chain")
    >>> out[0].metadata["id"], out[0].metadata["relevance_score"] > 0
    (7, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, field_serializer

from rag_rerankers.adapters import RerankerAdapter, listed
from rag_rerankers.base import UNSET, Reranker, _Unset, check_query, describe
from rag_rerankers.types import RankedItem

SCORE_KEY = "relevance_score"


class RerankCompressor(RerankerAdapter, BaseDocumentCompressor):
    """Rerank retrieved documents with any rag-rerankers backend.

    Args:
        reranker: a config string (``"cohere:rerank-v3.5"``), a dict, or a ``Reranker``.
        top_n: keep the best ``top_n`` (default 3; ``None`` keeps all). When not given and the
            config string sets ``top_n``, that value is used.
        **options: ranking controls (``score_threshold``, ``normalize``, ``fallbacks``, ...)
            and backend options, applied to the reranker exactly as :func:`init_compressor`
            applies them; an unknown name is a ``ConfigError`` naming the closest valid one.

    Assigning ``top_n`` later is checked (``InvalidInputError``); assigning ``reranker`` builds
    it. It pickles and deep-copies when its reranker does, otherwise raises ``ConfigError``
    and stays as it was; ``copy.copy`` shares the reranker.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=False)

    reranker: Reranker = Field(description="The backend: config string, dict or Reranker.")
    top_n: int | None = Field(default=3, description="Documents to keep; None keeps all.")

    def __init__(self, reranker: Any = None, **options: Any) -> None:
        super().__init__(reranker, **options)  # RerankerAdapter: options applied as init_* does

    @field_serializer("reranker")
    def _describe_reranker(self, reranker: Reranker) -> dict[str, Any]:
        # model_dump/JSON show what the reranker is, never its options (they may hold keys)
        return describe(reranker)

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Rerank ``documents`` for ``query``; returns new documents, best first."""
        docs, call = self._call(documents, query)
        return _to_documents(docs, self.reranker.rank(**call)) if call else []

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Native async: awaits the backend's ``arank`` (no thread hop for API backends)."""
        docs, call = self._call(documents, query)
        return _to_documents(docs, await self.reranker.arank(**call)) if call else []

    def _call(self, documents: Any, query: str) -> tuple[list[Document], dict[str, Any] | None]:
        """The checked documents and the arguments of ``rank`` (``None``: nothing to rank)."""
        docs = _documents(documents)
        if not docs:
            check_query(query)  # same answer as the core: a bad query is an error, even here
            return docs, None
        return docs, {"query": query, "documents": _texts(docs), "top_n": self.top_n,
                      "metadata": _metadata(docs)}


def _documents(documents: Any) -> list[Document]:
    """The candidates as a list, each a LangChain ``Document`` (else :class:`InvalidInputError`)."""
    return listed(
        documents, Document,
        not_iterable="documents must be a sequence of langchain Documents, got {type}",
        wrong_item="document {i} is {type}, not a langchain Document: wrap texts as "
        "Document(page_content=...)",
    )


def _texts(docs: list[Document]) -> list[str]:
    # page_content may be missing on objects built with model_construct; the core names the index.
    return [getattr(doc, "page_content", None) for doc in docs]  # type: ignore[misc]


def _metadata(docs: list[Document]) -> list[Any]:
    # Read by the reranker's rank_fields control; never modified.
    return [getattr(doc, "metadata", None) for doc in docs]


def _to_documents(docs: list[Document], items: list[RankedItem]) -> list[Document]:
    out = []
    for item in items:
        source = docs[item.index]
        metadata = {**source.metadata, **item.metadata, SCORE_KEY: float(item.score)}
        out.append(source.model_copy(update={"metadata": metadata}))
    return out


def init_compressor(
    spec: Any, *, top_n: int | None | _Unset = UNSET, **overrides: Any
) -> RerankCompressor:
    """Build a :class:`RerankCompressor` from a config string, dict or ``Reranker``.

    ``top_n``: as given; else the spec's ``top_n``; else 3. Other keyword arguments are
    ranking controls and backend options (they override the spec's). The same as
    ``RerankCompressor(reranker=spec, top_n=..., **overrides)``.

    Example:
        >>> from langchain_rerankers import init_compressor
        >>> init_compressor("bm25?k1=1.2", top_n=5).top_n
        5
    """
    if top_n is not UNSET:
        overrides["top_n"] = top_n
    return RerankCompressor(reranker=spec, **overrides)
