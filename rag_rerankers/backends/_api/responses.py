"""A provider's results as ``(index, score)`` pairs, checked against the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rag_rerankers.errors import APIResponseError


def extract_pairs(
    provider: str, results: Any, get: Callable[[Any], tuple[Any, Any]]
) -> list[tuple[Any, float]]:
    """``[(index, score)]`` from a provider's result list; a malformed shape is a typed error.

    Example:
        >>> extract_pairs("demo", [{"index": 1, "score": "0.5"}], lambda r: (r["index"], r["score"]))
        [(1, 0.5)]
    """
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
