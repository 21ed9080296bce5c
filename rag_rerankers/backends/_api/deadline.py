"""Deadlines: every attempt, and every whole call, ends in bounded time.

A read timeout alone bounds each socket read, not a request: a server that sends one byte
every half second keeps a request alive forever. So each attempt gets a total budget
(``connect_timeout + timeout``) and a call may get one for all its attempts, retries and waits
(the ``deadline`` option), sync and async:

- the deadline in force is a context variable (:func:`scope` narrows it), so the retry policy
  stops waiting when it would pass, and every layer below reads the same one;
- async attempts run under ``asyncio.wait_for`` (:func:`bounded`);
- sync ``httpx`` clients read and write their sockets through :class:`DeadlineBackend`, which
  shortens each socket operation to what is left and fails once nothing is;
- a sync SDK that is not built on ``httpx`` (Voyage's, on ``requests``) runs each attempt in a
  worker thread that the caller stops waiting for at the deadline (:func:`run_bounded`).

Example:
    >>> with scope(5.0):
    ...     0 < remaining() <= 5.0
    True
    >>> remaining() is None
    True
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rag_rerankers_deadline", default=None
)


class DeadlineExceeded(TimeoutError):
    """Nothing is left of the deadline in force (mapped to ``APITimeoutError`` by the caller)."""


@contextlib.contextmanager
def scope(seconds: float | None) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (an outer, earlier one still wins)."""
    if seconds is None:
        yield
        return
    outer = _DEADLINE.get()
    here = time.monotonic() + seconds
    token = _DEADLINE.set(here if outer is None else min(outer, here))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline in force (``None``: no deadline; ``<= 0``: passed)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def cap(timeout: float | None) -> float | None:
    """``timeout`` shortened to what is left of the deadline; raises once nothing is."""
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise DeadlineExceeded("the deadline passed")
    return left if timeout is None else min(timeout, left)


async def bounded(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await under ``scope(seconds)``; :class:`DeadlineExceeded` when the deadline passes."""
    with scope(seconds):
        left = remaining()
        if left is None:
            return await awaitable
        if left <= 0:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise DeadlineExceeded("the deadline passed")
        try:
            return await asyncio.wait_for(awaitable, left)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"no complete answer within {left:.3g} s") from None


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def run_bounded(fn: Callable[[], T]) -> T:
    """Call ``fn`` in a worker thread and wait at most until the deadline in force.

    For sync SDKs whose sockets this package cannot reach: the caller gets
    :class:`DeadlineExceeded` on time; the abandoned call ends at its own read timeout.
    """
    global _POOL
    left = cap(None)
    if left is None:
        return fn()
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="rag-rerankers-call")
    future = _POOL.submit(contextvars.copy_context().run, fn)
    try:
        return future.result(timeout=left)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise DeadlineExceeded(f"no complete answer within {left:.3g} s") from None


class _DeadlineStream:
    """A network stream whose reads and writes end by the deadline in force."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap_or_timeout(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap_or_timeout(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> _DeadlineStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _cap_or_timeout(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _cap_or_timeout(timeout: float | None) -> float | None:
    try:
        return cap(timeout)
    except DeadlineExceeded as exc:
        import httpcore

        raise httpcore.ReadTimeout(str(exc)) from None


class DeadlineBackend:
    """An ``httpcore`` network backend (sync) that makes every socket operation respect the
    deadline in force: a slow trickle of bytes can no longer outlive it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> Any:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _cap_or_timeout(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> Any:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _cap_or_timeout(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport(**kwargs: Any) -> Any:
    """An ``httpx.HTTPTransport`` whose connections respect the deadline in force."""
    import httpx

    transport = httpx.HTTPTransport(**kwargs)
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = DeadlineBackend(pool._network_backend)
    return transport
