"""Keys and limits a server enforces before any scoring.

- :func:`check_key`: ``Authorization: Bearer <key>`` against every accepted key with a
  constant-time compare; every failure (no header, another scheme, a wrong key) gives the same
  401 message, so a caller learns nothing about which part was wrong.
- :func:`check_size`: documents per request and characters per document (413).
- :class:`Admission`: at most ``max_pending`` requests at once; one more gets 503 with
  ``Retry-After`` (the bounded queue).

Example:
    >>> check_key("Bearer k2", ("k1", "k2"))
    >>> check_key("Bearer nope", ("k1",))
    Traceback (most recent call last):
    ...
    rag_rerankers.serve.formats.WireError: invalid or missing API key: send 'Authorization: Bearer <key>'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from rag_rerankers.serve.formats import RerankCall, WireError
from rag_rerankers.serve.settings import ServeSettings

UNAUTHORIZED = "invalid or missing API key: send 'Authorization: Bearer <key>'"


def check_key(header: str | None, keys: Sequence[str]) -> None:
    """Raise a 401 :class:`WireError` unless ``header`` is ``Bearer <one of keys>``."""
    if not keys:
        return
    scheme, _, given = (header or "").partition(" ")
    # Compare fixed-length digests (compare_digest leaks a length mismatch), against every key.
    given_digest = hashlib.sha256(given.strip().encode("utf-8")).digest()
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given_digest, hashlib.sha256(key.encode("utf-8")).digest())
    if not ok or scheme.lower() != "bearer":
        raise WireError(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"}, kind="unauthorized")


def check_size(call: RerankCall, settings: ServeSettings) -> None:
    """Raise a 413 :class:`WireError` for too many or too long documents.

    Example:
        >>> check_size(RerankCall("q", ["a"] * 3), ServeSettings(max_documents=2))
        Traceback (most recent call last):
        ...
        rag_rerankers.serve.formats.WireError: 3 documents in one request; this server accepts at most 2: split the request
    """
    n = len(call.documents)
    if n > settings.max_documents:
        raise WireError(
            413,
            f"{n} documents in one request; this server accepts at most "
            f"{settings.max_documents}: split the request",
            kind="too_large",
        )
    limit = settings.max_document_chars
    for i, doc in enumerate(call.documents):
        if len(doc) > limit:
            raise WireError(
                413,
                f"document {i} has {len(doc)} characters; this server accepts at most {limit} "
                "per document: shorten or split it",
                kind="too_large",
            )


class Admission:
    """Count requests in progress; refuse one over ``max_pending`` with 503 + ``Retry-After``.

    Example:
        >>> a = Admission(1, retry_after=2)
        >>> a.enter(); a.pending
        1
        >>> a.enter()
        Traceback (most recent call last):
        ...
        rag_rerankers.serve.formats.WireError: server busy: 1 requests already queued or running; retry after 2 s
        >>> a.leave(); a.pending
        0
    """

    def __init__(self, max_pending: int, retry_after: int = 1) -> None:
        self.max_pending = max_pending
        self.retry_after = retry_after
        self.pending = 0

    def enter(self) -> None:
        # Runs on the event loop thread only: no lock needed.
        if self.pending >= self.max_pending:
            raise WireError(
                503,
                f"server busy: {self.pending} requests already queued or running; retry after "
                f"{self.retry_after} s",
                {"Retry-After": str(self.retry_after)},
                kind="overloaded",
            )
        self.pending += 1

    def leave(self) -> None:
        self.pending -= 1
