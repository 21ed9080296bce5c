"""``voyage``: Voyage AI rerankers through the official ``voyageai`` SDK (``Client`` /
``AsyncClient``, ``POST {base}/rerank`` with base ``https://api.voyageai.com/v1``).

The key comes from ``api_key``, else ``VOYAGE_API_KEY``. Requests are split at 1,000
documents and at an estimated 600K tokens (Voyage's "query tokens x documents + document
tokens" budget for rerank-2.5).

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key="k") as server:
    ...     rr = init_reranker("voyage", api_key="k", base_url=server.base_url("voyage"))
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES, APIReranker
from rag_rerankers.backends._api.deadline import run_bounded
from rag_rerankers.backends._api.errors import error_for_status
from rag_rerankers.backends._api.responses import extract_pairs
from rag_rerankers.errors import (
    APIAuthenticationError,
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    RerankAPIError,
)
from rag_rerankers.options import Option
from rag_rerankers.registry import Alias, BackendInfo


class VoyageReranker(APIReranker):
    """Voyage rerank. Options: ``truncation`` plus the common API options."""

    backend = "voyage"
    default_model = "rerank-2.5"
    env_keys = ("VOYAGE_API_KEY",)
    default_base_url = "https://api.voyageai.com/v1"
    default_max_documents = 1000
    max_tokens_per_request = 540_000  # 600K budget, 10% margin for the estimate
    options = (
        Option("truncation", "bool", True,
               "Truncate over-long query/documents instead of failing.", nullable=False),
    )

    def __init__(self, model: str | None = None, *, truncation: bool = True, **common: Any) -> None:
        super().__init__(model, **common)
        self.truncation = truncation

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self._key(),
            "max_retries": 0,  # retries happen once, in RetryPolicy
            # (connect, read) for requests; (connect, total) for aiohttp.
            "timeout": (self.connect_timeout, self.timeout),
            "base_url": self.base_url or self.default_base_url,
        }

    def _make_client(self) -> Any:
        import voyageai

        return voyageai.Client(**self._client_kwargs())

    def _make_async_client(self) -> Any:
        import aiohttp
        import voyageai

        # One pooled aiohttp session per event loop; the SDK otherwise opens one per request.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.max_connections))
        return voyageai.AsyncClient(**self._client_kwargs()), session

    def _request(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        try:
            # requests' read timeout restarts with every byte: bound the call in a worker.
            result = run_bounded(lambda: client.rerank(
                query, documents, model=self.model, top_k=top_n, truncation=self.truncation))
        except (IndexError, TypeError) as exc:
            raise self._bad_index(exc) from exc
        return self._pairs_of(result)

    async def _arequest(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        import voyageai

        client, session = client
        token = voyageai.aiosession.set(session)
        try:
            result = await client.rerank(
                query, documents, model=self.model, top_k=top_n, truncation=self.truncation
            )
        except (IndexError, TypeError) as exc:
            raise self._bad_index(exc) from exc
        finally:
            voyageai.aiosession.reset(token)
        return self._pairs_of(result)

    def _bad_index(self, exc: BaseException) -> APIResponseError:
        # The SDK looks up documents[index] for every result, so an out-of-range or
        # non-integer index from the server surfaces here rather than in check_pairs.
        return APIResponseError(
            f"a result index is not a valid document position ({type(exc).__name__}: {exc})",
            provider=self.backend, status=200,
        )

    def _pairs_of(self, result: Any) -> list[tuple[int, float]]:
        return extract_pairs(self.backend, getattr(result, "results", None),
                             lambda r: (r.index, r.relevance_score))

    def _translate(self, exc: BaseException) -> RerankAPIError | None:
        from voyageai import error

        if not isinstance(exc, error.VoyageError):
            return None
        if isinstance(exc, error.Timeout):
            return APITimeoutError("request timed out", provider=self.backend)
        if isinstance(exc, error.APIConnectionError):
            return APIConnectionError(f"connection failed ({exc.user_message})",
                                      provider=self.backend)
        status = exc.http_status
        if status is None:
            if isinstance(exc, error.AuthenticationError):
                return APIAuthenticationError(str(exc.user_message), provider=self.backend)
            return APIResponseError(f"unexpected SDK error: {exc.user_message}",
                                    provider=self.backend)
        if 200 <= status < 300:
            return APIResponseError("the response body is not valid JSON",
                                    provider=self.backend, status=status)
        body = exc.json_body if exc.json_body is not None else exc.http_body
        return error_for_status(self.backend, status, headers=exc.headers, body=body,
                                secret=self._secret())

    async def _close_async_client(self, client: Any) -> None:
        await client[1].close()  # the aiohttp session


BACKEND = BackendInfo(
    VoyageReranker,
    "Voyage AI rerank API via the official voyageai SDK.",
    aliases=(Alias("voyageai"),),
    requires=(("voyageai", "voyageai"), *API_REQUIRES),
    docs_url="https://docs.voyageai.com/reference/reranker-api",
)
