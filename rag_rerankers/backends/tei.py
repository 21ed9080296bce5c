"""``tei``: a Hugging Face Text Embeddings Inference server's ``POST {base_url}/rerank``.

``base_url`` is required (option, or the ``TEI_BASE_URL`` environment variable). TEI rejects
more than ``--max-client-batch-size`` texts per request (32 by default), so requests are split
at 32 unless ``max_documents_per_request`` says otherwise. Scores are TEI's default
sigmoid-activated relevance (``raw_scores: false``), in [0, 1]. An ``api_key`` (TEI's
``--api-key``) is optional.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key=None) as server:
    ...     rr = init_reranker("tei", base_url=server.url)
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

import os
from typing import Any

from rag_rerankers.backends._api import extract_pairs
from rag_rerankers.backends.jina import HTTPXReranker
from rag_rerankers.errors import ConfigError
from rag_rerankers.types import ScoreType


class TEIReranker(HTTPXReranker):
    """TEI ``/rerank``. Options: ``truncate`` plus the common API options."""

    backend = "tei"
    provider = "tei"
    score_type = ScoreType.PROBABILITY
    env_keys = ()
    key_required = False
    default_max_documents = 32
    supports_top_n = False  # TEI's /rerank always scores every text
    path = "/rerank"

    def __init__(
        self,
        model: str | None = None,
        *,
        top_n: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        max_documents_per_request: int | None = None,
        truncate: bool = True,
    ) -> None:
        base_url = base_url or os.environ.get("TEI_BASE_URL", "").strip() or None
        if not base_url:
            raise ConfigError(
                "backend 'tei' needs the URL of a Text Embeddings Inference server: pass "
                "base_url=... (e.g. 'http://localhost:8080') or set TEI_BASE_URL"
            )
        super().__init__(
            model, top_n=top_n, api_key=api_key, base_url=base_url, timeout=timeout,
            connect_timeout=connect_timeout, max_retries=max_retries, backoff=backoff,
            max_backoff=max_backoff, max_documents_per_request=max_documents_per_request,
        )
        self.truncate = truncate

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        return {"query": query, "texts": documents, "truncate": self.truncate,
                "raw_scores": False, "return_text": False}

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        return extract_pairs(self.provider, body if isinstance(body, list) else None,
                             lambda r: (r["index"], r["score"]))
