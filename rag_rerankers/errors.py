"""Typed errors raised by rag-rerankers.

Every error derives from :class:`RerankerError`, so ``except RerankerError`` catches all of
them. Each also derives from the closest built-in (``ValueError``, ``ImportError``, ...) so
code written against the built-ins keeps working.
"""

from __future__ import annotations


class RerankerError(Exception):
    """Base class of every error raised by rag-rerankers."""


class ConfigError(RerankerError, ValueError):
    """A config string, dict or option is invalid. The message lists the valid choices."""


class MissingCredentialsError(ConfigError):
    """A backend needs an API key or a server URL that is not configured (the message names
    the environment variable or option to set)."""


class MissingDependencyError(RerankerError, ImportError):
    """An optional dependency (of a backend, an adapter or a command) is not installed.

    The message names the exact ``pip install`` command that fixes it; ``what`` names the
    part that needs it when that is not a backend.

    Example:
        >>> err = MissingDependencyError("langchain", "langchain", "langchain_core",
        ...                              what="the LangChain adapter")
        >>> print(err)
        the LangChain adapter needs the package 'langchain_core', which is not installed. Install it with: pip install "rag-rerankers[langchain]"
    """

    def __init__(self, backend: str, extra: str, missing: str, *, what: str | None = None) -> None:
        self.backend = backend
        self.extra = extra
        self.missing = missing
        self.install_command = f'pip install "rag-rerankers[{extra}]"'
        super().__init__(
            f"{what or f'backend {backend!r}'} needs the package {missing!r}, which is not "
            f"installed. Install it with: {self.install_command}"
        )


class InvalidInputError(RerankerError, ValueError):
    """A query, document list or call argument cannot be reranked (says which and why)."""


class BackendError(RerankerError, RuntimeError):
    """A backend broke its contract: a wrong number of scores, a score that is not a number,
    fewer results than asked for. A fault of the backend (or of its model), not of the caller's
    input. API backends report a provider's unusable answer as :class:`APIResponseError`.

    Example:
        >>> isinstance(BackendError("backend 'x' returned 2 scores for 3 documents"), RerankerError)
        True
    """


class ModelNotFoundError(RerankerError, OSError):
    """A local model could not be found or loaded (says which folder or name was looked for)."""


class RerankAPIError(RerankerError):
    """A remote rerank API call failed (after any retries).

    Attributes:
        provider: ``"cohere"``, ``"voyage"``, ``"jina"``, ``"mixedbread"`` or ``"tei"``.
        status: the HTTP status of the last response, ``None`` when there was none
            (timeout, connection error).
        request_id: the provider's request id from the response headers, when it sent one.
        retry_after: seconds the provider asked us to wait (``Retry-After``), if any.
        attempts: how many requests were made before giving up.

    The API key is never part of the message or the attributes.

    Example:
        >>> err = APIRateLimitError("rate limited", provider="cohere", status=429, request_id="r1")
        >>> str(err)
        'cohere: rate limited (HTTP 429, request id r1)'
        >>> isinstance(err, RerankAPIError), err.retryable
        (True, True)
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        self.message = message
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        facts = []
        if self.status is not None:
            facts.append(f"HTTP {self.status}")
        if self.request_id:
            facts.append(f"request id {self.request_id}")
        if self.attempts > 1:
            facts.append(f"after {self.attempts} attempts")
        suffix = f" ({', '.join(facts)})" if facts else ""
        return f"{self.provider}: {self.message}{suffix}"

    def __reduce__(self) -> tuple:  # keep keyword-only fields when pickled
        return (_rebuild_api_error, (type(self), self.message, self.__dict__.copy()))


def _rebuild_api_error(cls: type, message: str, state: dict) -> RerankAPIError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class APIAuthenticationError(RerankAPIError, PermissionError):
    """HTTP 401/403: the key is missing, wrong or not allowed to use this model."""


class APIRateLimitError(RerankAPIError):
    """HTTP 429 on every allowed attempt (rate limit or quota exhausted)."""

    retryable = True


class APIBadRequestError(RerankAPIError, ValueError):
    """HTTP 4xx other than 401/403/408/429: the request itself is wrong (never retried)."""


class APIServerError(RerankAPIError):
    """HTTP 5xx on every allowed attempt, or an unusable answer from the server."""

    retryable = True


class APIConnectionError(APIServerError, ConnectionError):
    """The connection failed or was reset before a response arrived."""


class APIResponseError(APIServerError):
    """The server answered 2xx with a body that is not a valid rerank response
    (malformed JSON, missing fields, wrong number or out-of-range indices). Not retried."""

    retryable = False


class APITimeoutError(RerankAPIError, TimeoutError):
    """Connecting or reading the response took longer than the configured timeout."""

    retryable = True


class AllRerankersFailedError(RerankerError, RuntimeError):
    """Every reranker of a fallback chain failed (``on_error="fallback"``).

    ``errors`` holds ``(reranker name, exception)`` for each attempt, in order; the last
    exception is also the ``__cause__``.
    """

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        self.errors = errors
        causes = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in errors)
        super().__init__(f"every reranker in the fallback chain failed ({causes})")


class LLMCallError(RerankerError, RuntimeError):
    """A call to a chat model failed (timeout, rate limit, connection, provider error).

    The provider's exception is the ``__cause__``; ``retryable`` says whether it looked
    transient (a timeout, a rate limit, a connection or server error). Like every reranker
    error it moves a fallback chain on and is handled by ``on_error``.

    Example:
        >>> err = LLMCallError("openai:gpt-4.1-mini", TimeoutError("read timed out"))
        >>> str(err), err.retryable
        ("LLM call to 'openai:gpt-4.1-mini' failed: TimeoutError: read timed out", True)
    """

    _TRANSIENT = ("timeout", "ratelimit", "rate_limit", "connection", "overloaded", "unavailable",
                  "internalserver", "servererror", "apierror")

    def __init__(self, model: str, cause: BaseException) -> None:
        self.model = model
        name = type(cause).__name__
        self.retryable = isinstance(cause, (TimeoutError, ConnectionError)) or any(
            word in name.lower() for word in self._TRANSIENT
        )
        super().__init__(f"LLM call to {model!r} failed: {name}: {cause}")
