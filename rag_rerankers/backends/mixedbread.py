"""``mixedbread``: Mixedbread rerank through the official ``mixedbread`` SDK (``Mixedbread`` /
``AsyncMixedbread``, ``POST /v1/reranking``).

The key comes from ``api_key``, else ``MXBAI_API_KEY``, else ``MIXEDBREAD_API_KEY``; the SDK
also reads ``MIXEDBREAD_BASE_URL`` when ``base_url`` is not given.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key="k") as server:
    ...     rr = init_reranker("mixedbread", api_key="k", base_url=server.url)
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES, APIReranker
from rag_rerankers.backends._api.deadline import deadline_transport
from rag_rerankers.backends._api.errors import error_for_status, request_id_from
from rag_rerankers.backends._api.http import httpx_limits, httpx_timeout
from rag_rerankers.backends._api.responses import check_raw_results, extract_pairs
from rag_rerankers.errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    RerankAPIError,
)
from rag_rerankers.registry import BackendInfo


class MixedbreadReranker(APIReranker):
    """Mixedbread rerank. Options: the common API options."""

    backend = "mixedbread"
    default_model = "mixedbread-ai/mxbai-rerank-large-v2"
    env_keys = ("MXBAI_API_KEY", "MIXEDBREAD_API_KEY")
    base_url_env = ("MIXEDBREAD_BASE_URL",)  # the SDK's own variable, read here too
    default_base_url = None  # the SDK's: https://api.mixedbread.com
    default_max_documents = 1000

    def _sdk_client(self, asynchronous: bool) -> Any:
        import httpx
        import mixedbread

        timeout = httpx_timeout(self.timeout, self.connect_timeout)
        kwargs: dict[str, Any] = {
            "api_key": self._key(),
            "max_retries": 0,  # retries happen once, in RetryPolicy
            "timeout": timeout,
        }
        limits = httpx_limits(self.max_connections)
        kwargs["http_client"] = (
            httpx.AsyncClient(timeout=timeout, limits=limits) if asynchronous
            # sync sockets read through the deadline backend
            else httpx.Client(timeout=timeout, transport=deadline_transport(limits=limits))
        )
        if self.base_url:
            kwargs["base_url"] = self.base_url
        sdk = mixedbread.AsyncMixedbread if asynchronous else mixedbread.Mixedbread
        return sdk(**kwargs)

    def _make_client(self) -> Any:
        return self._sdk_client(asynchronous=False)

    def _make_async_client(self) -> Any:
        return self._sdk_client(asynchronous=True)

    def _request(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        # top_k is always sent: every score is needed unless a top_n was asked for.
        raw = client.with_raw_response.rerank(model=self.model, query=query, input=documents,
                                              top_k=top_n or len(documents))
        return self._pairs_of(raw.http_response)

    async def _arequest(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        raw = await client.with_raw_response.rerank(
            model=self.model, query=query, input=documents, top_k=top_n or len(documents)
        )
        return self._pairs_of(raw.http_response)

    def _pairs_of(self, response: Any) -> list[tuple[int, float]]:
        # The raw JSON, not the SDK's models, which would coerce a score "0.9" or true.
        try:
            body = response.json()
        except ValueError:
            body = None
        check_raw_results(self.backend, body, results="data", index="index", score="score",
                          status=response.status_code)
        return extract_pairs(self.backend, body["data"], lambda r: (r["index"], r["score"]))

    def _translate(self, exc: BaseException) -> RerankAPIError | None:
        import mixedbread

        if isinstance(exc, mixedbread.APITimeoutError):
            return APITimeoutError("request timed out", provider=self.backend)
        if isinstance(exc, mixedbread.APIConnectionError):
            return APIConnectionError(f"connection failed ({exc})", provider=self.backend)
        if isinstance(exc, mixedbread.APIStatusError):
            return error_for_status(self.backend, exc.status_code, headers=exc.response.headers,
                                    body=exc.body, secret=self._secret())
        if isinstance(exc, (mixedbread.APIResponseValidationError, ValueError)):
            response = getattr(exc, "response", None)
            return APIResponseError(
                "the response body is not a valid rerank response", provider=self.backend,
                status=getattr(response, "status_code", 200),
                request_id=request_id_from(getattr(response, "headers", None)),
            )
        return None


BACKEND = BackendInfo(
    MixedbreadReranker,
    "Mixedbread rerank API via the official mixedbread SDK.",
    requires=(("mixedbread", "mixedbread"), *API_REQUIRES),
    docs_url="https://www.mixedbread.com/api-reference",
)
