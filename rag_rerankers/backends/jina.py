"""``jina``: Jina AI rerank over ``httpx`` (``POST {base}/v1/rerank``; Jina has no Python SDK).

``base_url`` also reaches servers that speak Jina's rerank format at ``/v1/rerank``; for vLLM,
Infinity, llama.cpp and LocalAI prefer their own backends (``vllm``, ``infinity``,
``llama-cpp``, ``localai``), which never send a key found in ``JINA_API_KEY``.
The key comes from ``api_key``, else ``JINA_API_KEY``; with a custom ``base_url`` it is
optional (no ``Authorization`` header is sent without one).

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key="k") as server:
    ...     rr = init_reranker("jina", api_key="k", base_url=server.url)
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES
from rag_rerankers.backends._api.http import HTTPX_REQUIRES, HTTPXReranker
from rag_rerankers.backends._api.responses import extract_pairs
from rag_rerankers.registry import BackendInfo


class JinaReranker(HTTPXReranker):
    """Jina rerank. Options: the common API options."""

    backend = "jina"
    default_model = "jina-reranker-v3"
    env_keys = ("JINA_API_KEY",)
    default_base_url = "https://api.jina.ai"
    default_max_documents = 1000
    path = "/v1/rerank"

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        # No need to echo the texts back.
        return {"model": self.model, "query": query, "documents": documents,
                "top_n": top_n or len(documents), "return_documents": False}

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        results = body.get("results") if isinstance(body, dict) else None
        return extract_pairs(self.backend, results,
                             lambda r: (r["index"], r["relevance_score"]))


BACKEND = BackendInfo(
    JinaReranker,
    "Jina AI rerank API over httpx.",
    requires=(*HTTPX_REQUIRES, *API_REQUIRES),
    docs_url="https://jina.ai/reranker/",
)
