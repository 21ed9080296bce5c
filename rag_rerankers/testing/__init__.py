"""Test helpers shipped with the package: a fake rerank provider server for offline tests and demos.

Example:
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer() as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
"""

from rag_rerankers.testing.server import (
    PROVIDERS,
    FakeRerankServer,
    Fault,
    RecordedRequest,
    lexical_score,
)

__all__ = ["PROVIDERS", "FakeRerankServer", "Fault", "RecordedRequest", "lexical_score"]
