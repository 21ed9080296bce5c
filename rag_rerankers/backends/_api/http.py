"""``httpx`` helpers, and :class:`HTTPXReranker` for providers that have no SDK (Jina, TEI)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from rag_rerankers.backends._api.base import APIReranker
from rag_rerankers.backends._api.deadline import deadline_transport
from rag_rerankers.backends._api.errors import error_for_status, request_id_from
from rag_rerankers.errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    RerankAPIError,
)

HTTPX_REQUIRES = (("httpx", "httpx"),)


def httpx_timeout(read: float, connect: float) -> Any:
    """An ``httpx.Timeout`` with separate read and connect limits."""
    import httpx

    return httpx.Timeout(read, connect=connect)


def httpx_limits(max_connections: int) -> Any:
    """A pool of ``max_connections``, all kept alive (concurrent calls reuse them)."""
    import httpx

    return httpx.Limits(max_connections=max_connections,
                        max_keepalive_connections=max_connections)


@functools.lru_cache(maxsize=1)
def fixed_timeout_clients() -> tuple[type, type]:
    """``httpx`` clients that ignore a per-request ``timeout=`` argument.

    Some SDKs (Cohere) pass one float per request, which would replace the separate connect
    and read timeouts configured on the client; these subclasses keep the client's.
    """
    import httpx

    class Client(httpx.Client):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("timeout", None)
            return super().request(*args, **kwargs)

    class AsyncClient(httpx.AsyncClient):
        async def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("timeout", None)
            return await super().request(*args, **kwargs)

    return Client, AsyncClient


def raw_body_hooks(check: Callable[[Any], None]) -> tuple[Any, Any]:
    """``httpx`` response hooks (sync, async) that run ``check(decoded JSON)`` on every 2xx
    body before an SDK parses it; a body that is not JSON is left to the SDK to report."""

    def decoded(response: Any) -> None:
        try:
            body = response.json()
        except ValueError:
            return
        check(body)

    def hook(response: Any) -> None:
        if response.status_code // 100 == 2:
            response.read()
            decoded(response)

    async def ahook(response: Any) -> None:
        if response.status_code // 100 == 2:
            await response.aread()
            decoded(response)

    return hook, ahook


def translate_httpx(provider: str, exc: BaseException) -> RerankAPIError | None:
    """Map ``httpx`` transport exceptions (timeouts, resets, refused connections)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__
        return APITimeoutError(f"request timed out ({kind})", provider=provider)
    if isinstance(exc, httpx.TransportError):
        return APIConnectionError(f"connection failed ({type(exc).__name__}: {exc})",
                                  provider=provider)
    return None


def check_httpx_response(provider: str, response: Any, secret: str | None = None) -> Any:
    """Raise the typed error for any status but 2xx (a redirect is no answer: httpx does not
    follow them); return the decoded JSON body."""
    status = response.status_code
    if not 200 <= status < 300:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        raise error_for_status(provider, status, headers=response.headers, body=body,
                               secret=secret)
    try:
        return response.json()
    except ValueError as exc:
        raise APIResponseError(
            "the response body is not valid JSON", provider=provider, status=status,
            request_id=request_id_from(response.headers),
        ) from exc


class HTTPXReranker(APIReranker):
    """An API backend that talks JSON over ``httpx`` directly: a subclass sets ``path`` and
    implements :meth:`_payload` and :meth:`_parse`."""

    path: ClassVar[str] = "/v1/rerank"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        secret = self._secret()
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return headers

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url or self.default_base_url or "",
            "timeout": httpx_timeout(self.timeout, self.connect_timeout),
            "headers": self._headers(),
        }

    def _make_client(self) -> Any:
        import httpx

        return httpx.Client(**self._client_kwargs(),
                            transport=deadline_transport(limits=httpx_limits(self.max_connections)))

    def _make_async_client(self) -> Any:
        import httpx

        return httpx.AsyncClient(**self._client_kwargs(), limits=httpx_limits(self.max_connections))

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        raise NotImplementedError

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        raise NotImplementedError

    def _request(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        response = client.post(self.path, json=self._payload(query, documents, top_n))
        return self._parse(check_httpx_response(self.backend, response, self._secret()))

    async def _arequest(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        response = await client.post(self.path, json=self._payload(query, documents, top_n))
        return self._parse(check_httpx_response(self.backend, response, self._secret()))

    def _translate(self, exc: BaseException) -> RerankAPIError | None:
        return translate_httpx(self.backend, exc)
