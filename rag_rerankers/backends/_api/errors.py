"""HTTP answers mapped to typed errors: status, ``Retry-After`` and request id."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from rag_rerankers.errors import (
    APIAuthenticationError,
    APIBadRequestError,
    APIRateLimitError,
    APIResponseError,
    APIServerError,
    APITimeoutError,
    RerankAPIError,
)

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-trace-id", "x-amzn-requestid")


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


def header(headers: Any, name: str) -> str | None:
    """A header's value from any headers object or mapping (``None`` if absent or unreadable)."""
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
        value = header(headers, name)
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
        # OpenAI-style servers (vLLM, Infinity, llama.cpp, LocalAI): {"error": {"message": ...}}
        if isinstance(text, Mapping) and text.get("message"):
            text = text["message"]
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
        >>> error_for_status("vllm", 400, body={"error": {"message": "bad", "code": 400}}).message
        'bad request: bad'
    """
    detail = _message(body, secret)
    rid = request_id_from(headers)
    retry_after = parse_retry_after(header(headers, "retry-after"))
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
