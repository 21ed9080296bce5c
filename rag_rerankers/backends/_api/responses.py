"""A provider's results as ``(index, score)`` pairs, checked against the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rag_rerankers.errors import APIResponseError


def is_number(value: Any) -> bool:
    """A JSON number: an int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_raw_results(
    provider: str, body: Any, *, results: str, index: str, score: str, status: int = 200
) -> None:
    """Refuse a decoded 2xx body that is not ``{results: [{index: int, score: number}]}``.

    For SDKs that coerce what they parse (an index ``"3"`` or ``true``, a score ``"0.9"``) or
    fail on an unexpected shape with a bare ``TypeError``: the backend checks the raw JSON first.

    Example:
        >>> check_raw_results("demo", {"r": [{"i": 0, "s": 0.5}]}, results="r", index="i", score="s")
        >>> check_raw_results("demo", [1, 2], results="r", index="i", score="s")
        Traceback (most recent call last):
        ...
        rag_rerankers.errors.APIResponseError: demo: unexpected response shape (the body is list, not an object with a list of r) (HTTP 200)
    """
    items = body.get(results) if isinstance(body, dict) else None
    problem = None
    if not isinstance(items, list):
        problem = f"the body is {type(body).__name__}, not an object with a list of {results}"
    else:
        for item in items:
            found = item if isinstance(item, dict) else {}
            if isinstance(found.get(index), bool) or not isinstance(found.get(index), int):
                problem = f"result {index} {found.get(index)!r} is not an integer"
            elif not is_number(found.get(score)):
                problem = f"{score} {found.get(score)!r} is not a number"
            if problem:
                break
    if problem:
        raise APIResponseError(f"unexpected response shape ({problem})", provider=provider,
                               status=status)


def extract_pairs(
    provider: str, results: Any, get: Callable[[Any], tuple[Any, Any]]
) -> list[tuple[Any, float]]:
    """``[(index, score)]`` from a provider's result list; a malformed shape is a typed error.

    A score must be a JSON number: a string (``"0.9"``) or a boolean is refused rather than
    converted, since a provider that sends one is not answering in its documented format.

    Example:
        >>> extract_pairs("demo", [{"index": 1, "score": 0.5}], lambda r: (r["index"], r["score"]))
        [(1, 0.5)]
        >>> extract_pairs("demo", [{"index": 1, "score": "0.5"}], lambda r: (r["index"], r["score"]))
        Traceback (most recent call last):
        ...
        rag_rerankers.errors.APIResponseError: demo: unexpected response shape (a score is str, not a number) (HTTP 200)
    """
    try:
        pairs = [get(result) for result in results]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    else:
        bad = [s for _, s in pairs if not is_number(s)]
        if not bad:
            return [(index, float(score)) for index, score in pairs]
        problem = f"a score is {type(bad[0]).__name__}, not a number"
    # Raised outside the except clause: no chained exception that could hold the body.
    raise APIResponseError(f"unexpected response shape ({problem})", provider=provider, status=200)


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
