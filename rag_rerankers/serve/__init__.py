"""``rag-rerankers serve``: any reranker spec behind Cohere-, Jina/vLLM- and TEI-compatible HTTP
endpoints (extra ``[serve]``: FastAPI on uvicorn).

- :func:`create_app` (:mod:`rag_rerankers.serve.app`): the FastAPI app for one or more named
  specs; :class:`ServeSettings` (:mod:`rag_rerankers.serve.settings`): keys, limits, batching.
- :mod:`rag_rerankers.serve.batcher`: cross-request batching of local models' pairs.
- :mod:`rag_rerankers.serve.formats`: the wire formats (Cohere v2, Jina/vLLM, TEI).
- :mod:`rag_rerankers.serve.ray`: the same app as a Ray Serve deployment (extra ``[ray]``).

This package imports FastAPI only in :mod:`rag_rerankers.serve.app`, loaded on first use of
:func:`create_app`, so the CLI plugin (:mod:`rag_rerankers.serve.cli`) starts fast.

Example:
    >>> from rag_rerankers.serve import ServeSettings
    >>> ServeSettings(max_documents=100).max_documents
    100
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rag_rerankers.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
