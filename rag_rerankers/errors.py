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


class MissingDependencyError(RerankerError, ImportError):
    """A backend's optional dependency is not installed.

    The message names the exact ``pip install`` command that fixes it.
    """

    def __init__(self, backend: str, extra: str, missing: str) -> None:
        self.backend = backend
        self.extra = extra
        self.missing = missing
        self.install_command = f'pip install "rag-rerankers[{extra}]"'
        super().__init__(
            f"backend {backend!r} needs the package {missing!r}, which is not installed. "
            f"Install it with: {self.install_command}"
        )


class InvalidInputError(RerankerError, ValueError):
    """A query, document list or call argument cannot be reranked (says which and why)."""


class ModelNotFoundError(RerankerError, OSError):
    """A local model could not be found or loaded (says which folder or name was looked for)."""


class AllRerankersFailedError(RerankerError, RuntimeError):
    """Every reranker of a fallback chain failed (``on_error="fallback"``).

    ``errors`` holds ``(reranker name, exception)`` for each attempt, in order; the last
    exception is also the ``__cause__``.
    """

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        self.errors = errors
        causes = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in errors)
        super().__init__(f"every reranker in the fallback chain failed ({causes})")
