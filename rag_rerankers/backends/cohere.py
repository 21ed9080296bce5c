"""``cohere``: Cohere Rerank through the official ``cohere`` SDK (``ClientV2`` / ``AsyncClientV2``,
``POST /v2/rerank``).

``base_url`` also reaches any server that speaks Cohere's v2 rerank format (for a vLLM server
prefer the ``vllm`` backend, which never sends a key found in ``COHERE_API_KEY``). The key
comes from ``api_key``, else ``COHERE_API_KEY``, else ``CO_API_KEY``; with a custom
``base_url`` it is optional.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key="k") as server:
    ...     rr = init_reranker("cohere", api_key="k", base_url=server.url)
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

import functools
from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES, APIReranker
from rag_rerankers.backends._api.deadline import deadline_transport
from rag_rerankers.backends._api.errors import error_for_status, request_id_from
from rag_rerankers.backends._api.http import (
    fixed_timeout_clients,
    httpx_limits,
    httpx_timeout,
    raw_body_hooks,
    translate_httpx,
)
from rag_rerankers.backends._api.responses import check_raw_results, extract_pairs
from rag_rerankers.errors import APIResponseError, RerankAPIError
from rag_rerankers.options import Option
from rag_rerankers.registry import BackendInfo

_NO_SDK_RETRIES = {"max_retries": 0}  # retries happen once, in RetryPolicy


class CohereReranker(APIReranker):
    """Cohere v2 rerank. Options: ``max_tokens_per_doc`` plus the common API options."""

    backend = "cohere"
    default_model = "rerank-v5.0-pro"
    env_keys = ("COHERE_API_KEY", "CO_API_KEY")
    default_base_url = "https://api.cohere.com"
    # Cohere accepts up to 10,000 documents and recommends at most 1,000 per request.
    default_max_documents = 1000
    options = (
        Option("max_tokens_per_doc", "int", None,
               "Truncate each document to this many tokens (API default 4096)."),
    )

    def __init__(
        self, model: str | None = None, *, max_tokens_per_doc: int | None = None, **common: Any
    ) -> None:
        super().__init__(model, **common)
        self.max_tokens_per_doc = max_tokens_per_doc
        # Omitted, not null, when unset: the API then applies its own default (4096).
        self._extra: dict[str, Any] = (
            {"max_tokens_per_doc": max_tokens_per_doc} if max_tokens_per_doc is not None else {}
        )

    def _sdk_client(self, asynchronous: bool) -> Any:
        import cohere

        sync_http, async_http = fixed_timeout_clients()
        sdk, http = (cohere.AsyncClientV2, async_http) if asynchronous else (cohere.ClientV2, sync_http)
        # The SDK coerces what it parses (an index "3", 1.0 or true becomes 3, 1 or 1) and
        # fails with a bare TypeError on a body of the wrong shape: check the raw JSON first.
        hooks = raw_body_hooks(functools.partial(
            check_raw_results, self.backend, results="results", index="index",
            score="relevance_score",
        ))
        # Sync sockets read through the deadline backend; async attempts run under wait_for.
        limits = httpx_limits(self.max_connections)
        pool = {"limits": limits} if asynchronous else {"transport": deadline_transport(limits=limits)}
        return sdk(
            api_key=self._key(),
            base_url=self.base_url or self.default_base_url,
            httpx_client=http(timeout=httpx_timeout(self.timeout, self.connect_timeout),
                              event_hooks={"response": [hooks[asynchronous]]}, **pool),
        )

    def _make_client(self) -> Any:
        return self._sdk_client(asynchronous=False)

    def _make_async_client(self) -> Any:
        return self._sdk_client(asynchronous=True)

    def _kwargs(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        kwargs = {"model": self.model, "query": query, "documents": documents,
                  "request_options": _NO_SDK_RETRIES, **self._extra}
        if top_n is not None:
            kwargs["top_n"] = top_n
        return kwargs

    def _request(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        return self._pairs_of(client.rerank(**self._kwargs(query, documents, top_n)))

    async def _arequest(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        return self._pairs_of(await client.rerank(**self._kwargs(query, documents, top_n)))

    def _pairs_of(self, response: Any) -> list[tuple[int, float]]:
        return extract_pairs(self.backend, getattr(response, "results", None),
                             lambda r: (r.index, r.relevance_score))

    def _translate(self, exc: BaseException) -> RerankAPIError | None:
        from cohere.core.api_error import ApiError

        if isinstance(exc, ApiError):
            status = exc.status_code or 0
            if 200 <= status < 300:  # the SDK could not decode a 2xx body
                return APIResponseError("the response body is not valid JSON",
                                        provider=self.backend, status=status,
                                        request_id=request_id_from(exc.headers))
            return error_for_status(self.backend, status, headers=exc.headers, body=exc.body,
                                    secret=self._secret())
        return translate_httpx(self.backend, exc)


BACKEND = BackendInfo(
    CohereReranker,
    "Cohere Rerank v2 API via the official cohere SDK.",
    requires=(("cohere", "cohere"), *API_REQUIRES),
    docs_url="https://docs.cohere.com/reference/rerank",
)
