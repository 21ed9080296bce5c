"""The one retry layer of the API backends, on top of ``tenacity``."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rag_rerankers.backends._api.deadline import remaining
from rag_rerankers.errors import RerankAPIError

T = TypeVar("T")


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

        def deadline_passed(state: Any) -> bool:
            left = remaining()
            return left is not None and left <= 0

        def wait(state: Any) -> float:
            delay = self.wait(state.attempt_number,
                              state.outcome.exception() if state.outcome else None)
            left = remaining()  # never sleep past the call's deadline
            return delay if left is None else max(0.0, min(delay, left))

        return {
            "stop": stop_after_attempt(self.max_retries + 1) | deadline_passed,
            "retry": retry_if_exception(self.should_retry),
            "wait": wait,
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
