"""The one HTTP discipline shared by every API backend (Cohere, Voyage, Jina, Mixedbread, TEI).

- **Timeouts**: a connect timeout and a read timeout on every request.
- **Retries, one layer only**: the SDKs' own retries are switched off (``max_retries=0``) and
  :class:`RetryPolicy` (on top of ``tenacity``) retries 429, 408, 5xx, timeouts and connection
  errors with exponential backoff and full jitter, waiting at least what ``Retry-After`` asks.
  Other 4xx and unusable 2xx bodies are never retried. A ``Retry-After`` longer than
  ``max_backoff`` ends the call at once with :class:`~rag_rerankers.errors.APIRateLimitError`
  (``retry_after`` set) instead of blocking for minutes.
- **Typed errors**: every SDK or ``httpx`` exception becomes a
  :class:`~rag_rerankers.errors.RerankAPIError` subclass with provider, HTTP status and
  request id; the key is never in it.
- **Splitting**: a candidate list over the provider's per-request limit is sent as several
  requests (concurrently in async code) and merged back in input order.
- **Exact index mapping**: :func:`check_pairs` checks each provider result maps to one input
  index and rejects missing, repeated or out-of-range indices.
- **Keys** are held as ``pydantic.SecretStr``; a missing key fails at construction and names
  the environment variable to set.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import os
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rag_rerankers.base import Reranker
from rag_rerankers.errors import (
    APIAuthenticationError,
    APIBadRequestError,
    APIConnectionError,
    APIRateLimitError,
    APIResponseError,
    APIServerError,
    APITimeoutError,
    ConfigError,
    RerankAPIError,
)
from rag_rerankers.types import ScoreType

if TYPE_CHECKING:
    from pydantic import SecretStr

T = TypeVar("T")

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-trace-id", "x-amzn-requestid")
_PLACEHOLDER_KEY = "unused"  # sent to self-hosted servers (vLLM, Infinity) that need no key


# --------------------------------------------------------------------------- keys
def resolve_api_key(
    provider: str, api_key: Any, env_vars: Sequence[str], *, required: bool
) -> SecretStr | None:
    """The key from the argument, else the first set environment variable, as a ``SecretStr``.

    Raises:
        ConfigError: no key anywhere and ``required``; the message names the variable.

    Example:
        >>> import os
        >>> os.environ["DEMO_RERANK_KEY"] = "s3cret"
        >>> resolve_api_key("demo", None, ["DEMO_RERANK_KEY"], required=True)
        SecretStr('**********')
    """
    from pydantic import SecretStr

    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    if api_key:
        return SecretStr(str(api_key))
    for var in env_vars:
        value = os.environ.get(var, "").strip()
        if value:
            return SecretStr(value)
    if required:
        others = f" (or {', '.join(env_vars[1:])})" if len(env_vars) > 1 else ""
        raise ConfigError(
            f"backend {provider!r} needs an API key: set the environment variable "
            f"{env_vars[0]}{others}, or pass api_key=..."
        )
    return None


# --------------------------------------------------------------------------- errors
def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds (decimals accepted) or an HTTP date.

    Example:
        >>> parse_retry_after("2"), parse_retry_after("0.5"), parse_retry_after(None)
        (2.0, 0.5, None)
    """
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)
        if value is None and isinstance(headers, Mapping):
            lowered = {str(k).lower(): v for k, v in headers.items()}
            value = lowered.get(name)
    except Exception:
        return None
    return None if value is None else str(value)


def request_id_from(headers: Any) -> str | None:
    """The provider's request id, from the first known header present."""
    for name in _REQUEST_ID_HEADERS:
        value = _header(headers, name)
        if value:
            return value
    return None


def _message(body: Any, secret: str | None) -> str:
    text: Any = body
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error"):
            if body.get(key):
                text = body[key]
                break
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(str(text).split())[:300] if text not in (None, "") else ""
    if secret and secret in text:  # never echo a key, even if a server did
        text = text.replace(secret, "***")
    return text


def error_for_status(
    provider: str,
    status: int,
    *,
    headers: Any = None,
    body: Any = None,
    secret: str | None = None,
) -> RerankAPIError:
    """Map an HTTP error status to the matching typed error.

    Example:
        >>> type(error_for_status("cohere", 429, headers={"retry-after": "3"})).__name__
        'APIRateLimitError'
        >>> error_for_status("jina", 400, body={"detail": "bad"}).message
        'bad request: bad'
    """
    detail = _message(body, secret)
    rid = request_id_from(headers)
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    kw: dict[str, Any] = {"provider": provider, "status": status, "request_id": rid,
                          "retry_after": retry_after}

    def msg(what: str) -> str:
        return f"{what}: {detail}" if detail else what

    if status in (401, 403, 498):
        return APIAuthenticationError(msg("authentication failed (check the API key)"), **kw)
    if status == 429:
        return APIRateLimitError(msg("rate limited"), **kw)
    if status == 408:
        return APITimeoutError(msg("the server timed out reading the request"), **kw)
    if 400 <= status < 500:
        return APIBadRequestError(msg("bad request"), **kw)
    if status >= 500:
        return APIServerError(msg("server error"), **kw)
    return APIResponseError(msg(f"unusable response with HTTP status {status}"), **kw)


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
    """Raise the typed error for an error status; return the decoded JSON body."""
    status = response.status_code
    if status >= 400:
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


# --------------------------------------------------------------------------- index mapping
def extract_pairs(
    provider: str, results: Any, get: Callable[[Any], tuple[Any, Any]]
) -> list[tuple[Any, float]]:
    """``[(index, score)]`` from a provider's result list; a malformed shape is a typed error."""
    try:
        return [(index, float(score)) for index, score in map(get, results)]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise APIResponseError(
            f"unexpected response shape ({type(exc).__name__}: {exc})",
            provider=provider, status=200,
        ) from exc


def check_pairs(
    provider: str, n: int, pairs: list[tuple[Any, float]], expected: int
) -> list[tuple[int, float]]:
    """Check the provider's ``(index, score)`` results for a request of ``n`` documents.

    Every index must be an int in ``range(n)``, none may repeat, and there must be exactly
    ``expected`` of them; otherwise :class:`~rag_rerankers.errors.APIResponseError` (a silent
    gap or shift would attach scores to the wrong documents).

    Example:
        >>> check_pairs("demo", 3, [(2, 0.9), (0, 0.5), (1, 0.1)], 3)
        [(2, 0.9), (0, 0.5), (1, 0.1)]
        >>> check_pairs("demo", 3, [(2, 0.9), (0, 0.5)], 3)
        Traceback (most recent call last):
        ...
        rag_rerankers.errors.APIResponseError: demo: the response has 2 results, expected 3 (HTTP 200)
    """
    seen = set()
    for index, _ in pairs:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise APIResponseError(
                f"result index {index!r} is out of range for {n} documents",
                provider=provider, status=200,
            )
        if index in seen:
            raise APIResponseError(f"result index {index} appears twice", provider=provider,
                                   status=200)
        seen.add(index)
    if len(pairs) != expected:
        raise APIResponseError(
            f"the response has {len(pairs)} results, expected {expected}",
            provider=provider, status=200,
        )
    return pairs


# --------------------------------------------------------------------------- retries
@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, full jitter and ``Retry-After``.

    Attempt ``k`` (1-based) failing with a retryable error waits a uniform random time in
    ``[0, min(max_backoff, backoff * 2**(k-1))]``, but never less than the server's
    ``Retry-After``. At most ``max_retries`` retries (``0`` disables retrying).

    Example:
        >>> RetryPolicy(max_retries=2, backoff=0.01).max_retries
        2
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 20.0

    def should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, RerankAPIError) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_backoff

    def wait(self, attempt: int, exc: BaseException | None) -> float:
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay = random.uniform(0.0, ceiling)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _kwargs(self) -> dict[str, Any]:
        from tenacity import retry_if_exception, stop_after_attempt

        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "retry": retry_if_exception(self.should_retry),
            "wait": lambda state: self.wait(
                state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            "reraise": True,
        }

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which raises typed errors) with retries."""
        if self.max_retries <= 0:
            return fn()
        from tenacity import Retrying

        return Retrying(**self._kwargs())(fn)

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Async :meth:`call`; waits with ``asyncio.sleep`` (never blocks the loop)."""
        if self.max_retries <= 0:
            return await fn()
        from tenacity import AsyncRetrying

        return await AsyncRetrying(**self._kwargs())(fn)


# --------------------------------------------------------------------------- base class
class APIReranker(Reranker):
    """Base of the API backends: keys, timeouts, retries, splitting and typed errors.

    A subclass sets ``provider``, ``env_keys``, ``default_base_url`` and
    ``default_max_documents`` and implements :meth:`_make_client`, :meth:`_make_async_client`,
    :meth:`_request`, :meth:`_arequest` and :meth:`_translate`.
    """

    score_type = ScoreType.RELEVANCE
    provider: ClassVar[str] = "api"
    env_keys: ClassVar[tuple[str, ...]] = ()
    key_required: ClassVar[bool] = True
    default_base_url: ClassVar[str | None] = None
    default_max_documents: ClassVar[int] = 1000
    supports_top_n: ClassVar[bool] = True
    # Voyage-style budget: query tokens x documents + document tokens (estimated), or None.
    max_tokens_per_request: ClassVar[int | None] = None

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
    ) -> None:
        super().__init__(model=model, top_n=top_n)
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout),
                            ("backoff", backoff), ("max_backoff", max_backoff)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        limit = self.default_max_documents if max_documents_per_request is None else max_documents_per_request
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"max_documents_per_request must be an integer >= 1, got {limit!r}")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_documents_per_request = limit
        self.retry = RetryPolicy(max_retries, self.backoff, self.max_backoff)
        self._api_key = resolve_api_key(
            self.backend, api_key, self.env_keys,
            required=self.key_required and self.base_url is None,
        )
        self._client: Any = None
        # Async clients hold connections bound to one event loop: one client per loop.
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        # Per loop, a suspended async generator that closes that loop's client when the loop
        # shuts down (see _close_at_loop_end).
        self._aclosers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    # ----------------------------------------------------------------- to implement
    def _make_client(self) -> Any:
        raise NotImplementedError

    def _make_async_client(self) -> Any:
        raise NotImplementedError

    def _request(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        """One HTTP request: the provider's ``(index, score)`` results, as returned.

        ``top_n`` is ``None`` (score every document) or a number to ask the provider for.
        Use :func:`extract_pairs`; the caller checks the indices.
        """
        raise NotImplementedError

    async def _arequest(
        self, client: Any, query: str, documents: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> RerankAPIError | None:
        """Map an SDK/transport exception to a typed error (``None``: not an API error)."""
        return translate_httpx(self.backend, exc)

    # ----------------------------------------------------------------- helpers
    @property
    def api_key(self) -> SecretStr | None:
        """The key as a ``SecretStr`` (``None`` for a keyless self-hosted server)."""
        return self._api_key

    def _key(self) -> str:
        return self._api_key.get_secret_value() if self._api_key is not None else _PLACEHOLDER_KEY

    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key is not None else None

    def _typed(self, exc: BaseException) -> BaseException:
        if isinstance(exc, RerankAPIError):
            return exc
        return self._translate(exc) or exc

    def _sync_client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            # A client refers to its loop (transports, futures), so the weak key alone never
            # frees it: forget clients of closed loops, e.g. one per asyncio.run(arank(...)).
            for old in [key for key in self._aclients if key.is_closed()]:
                self._aclients.pop(old, None)
                self._aclosers.pop(old, None)
            client = self._aclients[loop] = self._make_async_client()
            self._aclosers[loop] = self._close_at_loop_end(client)
        return client

    def _close_at_loop_end(self, client: Any) -> Any:
        """Start an async generator that closes ``client`` when the running loop shuts down.

        ``asyncio.run`` (and ``asyncio.Runner``, pytest-asyncio, Jupyter's loop) calls
        ``loop.shutdown_asyncgens()`` before closing the loop, which runs the generator's
        ``finally``: a script that only calls ``asyncio.run(rr.arank(...))`` leaks no
        connection (aiohttp would print "Unclosed client session" at exit).
        """

        async def closer() -> Any:
            try:
                yield
            finally:
                await self._close_async_client(client)

        gen = closer()
        step = gen.__anext__()  # runs up to the yield; the loop's hooks now track gen
        with contextlib.suppress(StopIteration):
            step.send(None)
        return gen  # held by self._aclosers: the loop tracks it only weakly

    def chunks(self, query: str, documents: list[str]) -> list[tuple[int, list[str]]]:
        """Split ``documents`` into ``(offset, chunk)`` pieces under the per-request limits.

        Example:
            >>> from rag_rerankers.backends.tei import TEIReranker
            >>> rr = TEIReranker(base_url="http://localhost:8080", max_documents_per_request=2)
            >>> [(o, len(c)) for o, c in rr.chunks("q", ["a", "b", "c"])]
            [(0, 2), (2, 1)]
        """
        limit = self.max_documents_per_request
        budget = self.max_tokens_per_request
        if budget is None:
            return [(i, documents[i:i + limit]) for i in range(0, len(documents), limit)]
        query_tokens = estimate_tokens(query)
        out: list[tuple[int, list[str]]] = []
        start, used, current = 0, 0, []
        for i, doc in enumerate(documents):
            cost = query_tokens + estimate_tokens(doc)
            if current and (len(current) >= limit or used + cost > budget):
                out.append((start, current))
                start, used, current = i, 0, []
            current.append(doc)
            used += cost
        if current:
            out.append((start, current))
        return out

    # ----------------------------------------------------------------- scoring
    def _typed_error(self, exc: Exception, calls: int) -> BaseException:
        typed = self._typed(exc)
        if isinstance(typed, RerankAPIError):
            typed.attempts = calls
        return typed

    def _plan(self, chunk: list[str], top_n: int | None) -> tuple[int | None, int]:
        """(top_n to ask the provider for, number of results to expect)."""
        if top_n is not None and self.supports_top_n and top_n < len(chunk):
            return top_n, top_n
        return None, len(chunk)

    def _call(
        self, client: Any, query: str, chunk: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        """One chunk, with retries: validated ``(index in chunk, score)`` pairs."""
        ask, expect = self._plan(chunk, top_n)
        calls = 0

        def attempt() -> list[tuple[int, float]]:
            nonlocal calls
            calls += 1
            try:
                pairs = self._request(client, query, chunk, ask)
                return check_pairs(self.provider, len(chunk), pairs, expect)
            except RerankAPIError as exc:
                exc.attempts = calls
                raise
            except Exception as exc:
                typed = self._typed_error(exc, calls)
                if typed is exc:
                    raise
                raise typed from exc

        return self.retry.call(attempt)

    async def _acall(
        self, client: Any, query: str, chunk: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        ask, expect = self._plan(chunk, top_n)
        calls = 0

        async def attempt() -> list[tuple[int, float]]:
            nonlocal calls
            calls += 1
            try:
                pairs = await self._arequest(client, query, chunk, ask)
                return check_pairs(self.provider, len(chunk), pairs, expect)
            except RerankAPIError as exc:
                exc.attempts = calls
                raise
            except Exception as exc:
                typed = self._typed_error(exc, calls)
                if typed is exc:
                    raise
                raise typed from exc

        return await self.retry.acall(attempt)

    def _pairs(self, query: str, docs: list[str], top_n: int | None) -> list[tuple[int, float]]:
        client = self._sync_client()
        out: list[tuple[int, float]] = []
        for offset, chunk in self.chunks(query, docs):
            out.extend((offset + i, s) for i, s in self._call(client, query, chunk, top_n))
        return out

    async def _apairs(
        self, query: str, docs: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        client = self._async_client()
        pieces = self.chunks(query, docs)
        if len(pieces) == 1:
            return await self._acall(client, query, docs, top_n)
        # Chunks of one query go out concurrently; their indices are shifted back.
        parts = await asyncio.gather(*(self._acall(client, query, c, top_n) for _, c in pieces))
        return [(offset + i, s) for (offset, _), part in zip(pieces, parts, strict=True)
                for i, s in part]

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        # Every index came back exactly once (checked), so index order is input order.
        return [s for _, s in sorted(self._pairs(query, list(documents), None))]

    async def _ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        return [s for _, s in sorted(await self._apairs(query, list(documents), None))]

    # With a top_n, the ranking pipeline asks the provider for only the best top_n of each
    # request (when that gives the same result): less to send back and, above all, less for
    # the SDK to parse (Cohere's SDK spends ~0.1 ms per result). The best top_n of each chunk
    # contain the best top_n overall, so splitting stays exact.
    supports_partial_scores = True

    def _score_top(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        return self._pairs(query, list(documents), top_n)

    async def _ascore_top(
        self, query: str, documents: Sequence[str], top_n: int
    ) -> list[tuple[int, float]]:
        return await self._apairs(query, list(documents), top_n)

    # ----------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the sync HTTP client (async clients: use :meth:`aclose`)."""
        client, self._client = self._client, None
        closer = getattr(client, "close", None)
        if callable(closer):
            closer()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, and the sync client."""
        loop = asyncio.get_running_loop()
        client = self._aclients.pop(loop, None)
        closer = self._aclosers.pop(loop, None)
        if closer is not None:
            await closer.aclose()  # its finally closes the client
        elif client is not None:
            await self._close_async_client(client)
        self.close()

    async def _close_async_client(self, client: Any) -> None:
        closer = getattr(client, "aclose", None) or getattr(client, "close", None)
        if callable(closer):
            result = closer()
            if asyncio.iscoroutine(result):
                await result


def estimate_tokens(text: str) -> int:
    """A conservative token estimate (about 3 characters per token) used for token budgets."""
    return len(text) // 3 + 1


def httpx_timeout(read: float, connect: float) -> Any:
    import httpx

    return httpx.Timeout(read, connect=connect)


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
