"""The base class of the API backends: shared options (declared once), request batching,
retries and typed errors on every call, sync and async."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from rag_rerankers.backends._api.deadline import DeadlineExceeded, bounded, scope
from rag_rerankers.backends._api.keys import PLACEHOLDER_KEY, resolve_api_key
from rag_rerankers.backends._api.responses import check_pairs
from rag_rerankers.backends._api.retry import RetryPolicy
from rag_rerankers.base import Reranker
from rag_rerankers.errors import (
    APITimeoutError,
    ConfigError,
    MissingCredentialsError,
    RerankAPIError,
)
from rag_rerankers.options import Option
from rag_rerankers.text import estimate_tokens
from rag_rerankers.types import ScoreType

if TYPE_CHECKING:
    from pydantic import SecretStr

API_REQUIRES = (("tenacity", "tenacity"), ("pydantic", "pydantic"))
"""What every API backend needs besides its SDK or ``httpx``."""


# --------------------------------------------------------------------------- base class
class APIReranker(Reranker):
    """Base of the API backends: keys, timeouts, retries, request batching and typed errors.

    A subclass sets ``backend``, ``default_model``, ``env_keys`` (and ``base_url_env``,
    ``default_base_url``, ``default_max_documents`` where they differ) and implements
    :meth:`_make_client`, :meth:`_make_async_client`, :meth:`_request`, :meth:`_arequest` and
    :meth:`_translate`. The options below are declared here once; a subclass adds only its own.
    """

    kind = "api"
    score_type = ScoreType.RELEVANCE
    env_keys: ClassVar[tuple[str, ...]] = ()
    """Environment variables holding the key, first found wins."""
    base_url_env: ClassVar[tuple[str, ...]] = ()
    """Environment variables holding the server URL, read when ``base_url`` is not given."""
    key_required: ClassVar[bool] = True
    base_url_required: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = None
    default_max_documents: ClassVar[int] = 1000
    supports_top_n: ClassVar[bool] = True
    # Voyage-style budget: query tokens x documents + document tokens (estimated), or None.
    max_tokens_per_request: ClassVar[int | None] = None

    options = (
        Option("api_key", "str", None, "API key (held as a SecretStr; never logged).",
               secret=True),
        Option("base_url", "str", None, "Server URL (self-hosted or compatible servers)."),
        Option("timeout", "float", 30.0,
               "Per attempt: the longest wait for a complete answer once connected, seconds "
               "(a total, however slowly the server sends).", nullable=False),
        Option("connect_timeout", "float", 5.0, "Connect timeout, seconds.", nullable=False),
        Option("max_retries", "int", 3,
               "Retries on 429/408/5xx/timeouts/connection errors (0 disables).", nullable=False),
        Option("backoff", "float", 0.5, "First backoff ceiling, seconds (doubles, full jitter).",
               nullable=False),
        Option("max_backoff", "float", 20.0,
               "Longest wait between attempts; a longer Retry-After fails at once.",
               nullable=False),
        Option("max_documents_per_request", "int", None,
               "Larger candidate lists are split into several requests and merged."),
        Option("max_connections", "int", 100,
               "Most open connections per client: the pool that concurrent calls share "
               "(raise it to run more than 100 requests at once).", nullable=False),
        Option("deadline", "float", None,
               "Longest a whole call may take, all requests, retries and waits included, "
               "seconds; none by default (each attempt is still bounded by connect_timeout + "
               "timeout)."),
    )

    @classmethod
    def declared_options(cls) -> tuple[Option, ...]:
        """The shared options with this provider's key and URL variables and request size."""
        own = {
            "api_key": {"env": cls.env_keys},
            "base_url": {"env": cls.base_url_env},
            "max_documents_per_request": {"default": cls.default_max_documents},
        }
        return tuple(
            replace(opt, **own[opt.name]) if opt.name in own else opt
            for opt in super().declared_options()
        )

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
        max_connections: int = 100,
        deadline: float | None = None,
    ) -> None:
        super().__init__(model=model, top_n=top_n)
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout),
                            ("backoff", backoff), ("max_backoff", max_backoff)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigError(f"max_connections must be an integer >= 1, got {max_connections!r}")
        if deadline is not None and (
            not isinstance(deadline, (int, float)) or isinstance(deadline, bool) or deadline <= 0
        ):
            raise ConfigError(f"deadline must be a number of seconds > 0 or None, got {deadline!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        limit = self.default_max_documents if max_documents_per_request is None else max_documents_per_request
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"max_documents_per_request must be an integer >= 1, got {limit!r}")
        base_url = base_url or next(
            (os.environ[v].strip() for v in self.base_url_env if os.environ.get(v, "").strip()),
            None,
        )
        if self.base_url_required and not base_url:
            where = f" or set {' or '.join(self.base_url_env)}" if self.base_url_env else ""
            raise MissingCredentialsError(
                f"backend {self.backend!r} needs the URL of its server: pass base_url=... "
                f"(e.g. 'http://localhost:8080'){where}"
            )
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.deadline = None if deadline is None else float(deadline)
        self.max_connections = max_connections
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
        raise NotImplementedError

    # ----------------------------------------------------------------- helpers
    @property
    def api_key(self) -> SecretStr | None:
        """The key as a ``SecretStr`` (``None`` for a keyless self-hosted server)."""
        return self._api_key

    def _key(self) -> str:
        return self._api_key.get_secret_value() if self._api_key is not None else PLACEHOLDER_KEY

    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key is not None else None

    def _typed(self, exc: BaseException) -> BaseException:
        if isinstance(exc, RerankAPIError):
            return exc
        if isinstance(exc, DeadlineExceeded):
            return APITimeoutError(f"{exc} (connect_timeout + timeout, or deadline)",
                                   provider=self.backend)
        return self._translate(exc) or exc

    @property
    def attempt_timeout(self) -> float:
        """The most one attempt may take: connecting, sending and the complete answer."""
        return self.connect_timeout + self.timeout

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

    def request_batches(self, query: str, documents: list[str]) -> list[tuple[int, list[str]]]:
        """Split ``documents`` into ``(offset, batch)`` requests under the per-request limits
        (documents per request and, for Voyage, an estimated token budget).

        Example:
            >>> from rag_rerankers.backends.tei import TEIReranker
            >>> rr = TEIReranker(base_url="http://localhost:8080", max_documents_per_request=2)
            >>> [(o, len(b)) for o, b in rr.request_batches("q", ["a", "b", "c"])]
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
    def _clean_error(self, exc: Exception, attempt: int) -> Exception:
        """The typed error to raise for what one attempt raised, counting attempts.

        Nothing chained: an SDK's exception (and a JSON decoder's) holds the response body,
        which may echo the key, so a typed error never keeps it as cause or context; the key
        is redacted from the message too. Anything that is not an API error is left as is.
        """
        typed = self._typed(exc)
        if not isinstance(typed, RerankAPIError):
            return exc
        typed.attempts = attempt
        typed.__cause__ = typed.__context__ = None
        typed.__suppress_context__ = True
        secret = self._secret()
        if secret and secret in typed.message:
            typed.message = typed.message.replace(secret, "***")
            typed.args = (typed.message,)
        return typed

    def _attempt(self, attempt: int, send: Callable[[], list[tuple[Any, float]]],
                 n: int, expect: int) -> list[tuple[int, float]]:
        try:
            return check_pairs(self.backend, n, send(), expect)
        except Exception as exc:
            error = self._clean_error(exc, attempt)
        raise error  # outside the except clause: no implicit context either

    async def _aattempt(self, attempt: int, send: Callable[[], Awaitable[list[tuple[Any, float]]]],
                        n: int, expect: int) -> list[tuple[int, float]]:
        try:
            return check_pairs(self.backend, n, await send(), expect)
        except Exception as exc:
            error = self._clean_error(exc, attempt)
        raise error

    def _plan(self, batch: list[str], top_n: int | None) -> tuple[int | None, int]:
        """(top_n to ask the provider for, number of results to expect)."""
        if top_n is not None and self.supports_top_n and top_n < len(batch):
            return top_n, top_n
        return None, len(batch)

    def _call(
        self, client: Any, query: str, batch: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        """One request batch, with retries: validated ``(index in batch, score)`` pairs."""
        ask, expect = self._plan(batch, top_n)
        attempts = itertools.count(1)

        def attempt() -> list[tuple[int, float]]:
            with scope(self.attempt_timeout):
                return self._attempt(next(attempts),
                                     lambda: self._request(client, query, batch, ask),
                                     len(batch), expect)

        return self.retry.call(attempt)

    async def _acall(
        self, client: Any, query: str, batch: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        ask, expect = self._plan(batch, top_n)
        attempts = itertools.count(1)

        async def attempt() -> list[tuple[int, float]]:
            return await self._aattempt(
                next(attempts),
                lambda: bounded(self._arequest(client, query, batch, ask), self.attempt_timeout),
                len(batch), expect,
            )

        return await self.retry.acall(attempt)

    def _pairs(self, query: str, docs: list[str], top_n: int | None) -> list[tuple[int, float]]:
        client = self._sync_client()
        out: list[tuple[int, float]] = []
        with scope(self.deadline):
            for offset, batch in self.request_batches(query, docs):
                out.extend((offset + i, s) for i, s in self._call(client, query, batch, top_n))
        return out

    async def _apairs(
        self, query: str, docs: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        if self.deadline is None:
            return await self._apairs_unbounded(query, docs, top_n)
        try:
            return await bounded(self._apairs_unbounded(query, docs, top_n), self.deadline)
        except DeadlineExceeded:
            error = APITimeoutError(f"the call's deadline of {self.deadline:g} s passed",
                                    provider=self.backend)
        raise error

    async def _apairs_unbounded(
        self, query: str, docs: list[str], top_n: int | None
    ) -> list[tuple[int, float]]:
        client = self._async_client()
        pieces = self.request_batches(query, docs)
        if len(pieces) == 1:
            return await self._acall(client, query, docs, top_n)
        # Batches of one query go out concurrently; their indices are shifted back.
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
    # the SDK to parse (Cohere's SDK spends ~0.1 ms per result). The best top_n of each batch
    # contain the best top_n overall, so batching stays exact.
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
        if client is None:
            return
        closer = getattr(client, "close", None)
        if callable(closer):
            closer()
        elif hasattr(client, "__exit__"):  # SDKs that close only as context managers (Cohere)
            client.__exit__(None, None, None)

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
        elif hasattr(client, "__aexit__"):  # SDKs that close only as context managers (Cohere)
            await client.__aexit__(None, None, None)

