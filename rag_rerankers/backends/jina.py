"""``jina``: Jina AI rerank over ``httpx`` (``POST {base}/v1/rerank``; Jina has no Python SDK).

``base_url`` also reaches servers that speak Jina's rerank format at ``/v1/rerank``: vLLM
(``vllm serve BAAI/bge-reranker-v2-m3``) and Infinity (``infinity_emb v2 --url-prefix /v1``).
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

from rag_rerankers.backends._api import (
    APIReranker,
    check_httpx_response,
    extract_pairs,
    httpx_timeout,
)

DEFAULT_MODEL = "jina-reranker-v3"


class HTTPXReranker(APIReranker):
    """An API backend that talks JSON over ``httpx`` directly (Jina, TEI)."""

    path = "/v1/rerank"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        secret = self._secret()
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return headers

    def _make_client(self) -> Any:
        import httpx

        return httpx.Client(
            base_url=self.base_url or self.default_base_url or "",
            timeout=httpx_timeout(self.timeout, self.connect_timeout),
            headers=self._headers(),
        )

    def _make_async_client(self) -> Any:
        import httpx

        return httpx.AsyncClient(
            base_url=self.base_url or self.default_base_url or "",
            timeout=httpx_timeout(self.timeout, self.connect_timeout),
            headers=self._headers(),
        )

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        raise NotImplementedError

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        raise NotImplementedError

    def _request(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        response = client.post(self.path, json=self._payload(query, documents, top_n))
        return self._parse(check_httpx_response(self.provider, response, self._secret()))

    async def _arequest(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        response = await client.post(self.path, json=self._payload(query, documents, top_n))
        return self._parse(check_httpx_response(self.provider, response, self._secret()))


class JinaReranker(HTTPXReranker):
    """Jina rerank. Options: the common API options."""

    backend = "jina"
    provider = "jina"
    env_keys = ("JINA_API_KEY",)
    default_base_url = "https://api.jina.ai"
    default_max_documents = 1000
    path = "/v1/rerank"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
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
    ) -> None:
        super().__init__(
            model, top_n=top_n, api_key=api_key, base_url=base_url, timeout=timeout,
            connect_timeout=connect_timeout, max_retries=max_retries, backoff=backoff,
            max_backoff=max_backoff, max_documents_per_request=max_documents_per_request,
        )

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        # No need to echo the texts back.
        return {"model": self.model, "query": query, "documents": documents,
                "top_n": top_n or len(documents), "return_documents": False}

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        results = body.get("results") if isinstance(body, dict) else None
        return extract_pairs(self.provider, results,
                             lambda r: (r["index"], r["relevance_score"]))
