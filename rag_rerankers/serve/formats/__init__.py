"""The wire formats a server speaks, one module each: request parsing, answers and errors
exactly as the real service documents them.

- :mod:`.cohere`: Cohere v2 ``POST /v2/rerank``;
- :mod:`.jina`: Jina AI / vLLM / Infinity ``POST /v1/rerank``;
- :mod:`.tei`: Hugging Face Text Embeddings Inference ``POST /rerank``.

Each module defines a :class:`WireFormat`: ``parse`` (a decoded JSON body to a
:class:`RerankCall`, raising :class:`WireError`), ``render`` (ranked items to the answer body)
and ``error_body`` (a status and message in that service's error shape).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.base import UNSET
from rag_rerankers.types import RankedItem


class WireError(Exception):
    """An error answer: HTTP status, message, extra headers (rendered in the endpoint's format).

    Example:
        >>> WireError(413, "too many documents").status
        413
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.kind = kind


@dataclass
class RerankCall:
    """A parsed rerank request, whatever its wire format."""

    query: str
    documents: list[str]
    model: str | None = None
    top_n: Any = UNSET  # UNSET: the served spec's top_n
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WireFormat:
    """One service's wire format (see the module docs)."""

    name: str
    path: str
    parse: Callable[[Any], RerankCall]
    render: Callable[[RerankCall, Sequence[RankedItem], str, str], Any]  # call, items, model, id
    error_body: Callable[[int, str, str], Any]  # status, message, request id
    bad_json_status: int = 400
    invalid_status: int = 400


def finite(score: float) -> float | None:
    """A JSON-safe score: NaN (not reranked, ``on_error=passthrough``) becomes ``null``.

    Example:
        >>> finite(0.5), finite(float("nan"))
        (0.5, None)
    """
    return None if math.isnan(score) else score


def estimate_tokens(texts: Sequence[str]) -> int:
    """A rough token count (4 characters a token) for ``usage`` fields.

    Example:
        >>> estimate_tokens(["abcdefgh", "ab"])
        3
    """
    return sum(-(-len(t) // 4) for t in texts)


def validation_message(exc: Any) -> str:
    """One line from a pydantic ``ValidationError``: ``field: problem; ...``."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)
