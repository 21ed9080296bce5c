"""The base of the self-hosted server backends (``vllm``, ``infinity``, ``llama-cpp``,
``localai``): a server you run, reached at a required ``base_url``, over ``httpx``.

What they share, and why it differs from the hosted APIs:

- ``base_url`` is required and nothing has a default host.
- The key is optional and comes only from ``api_key`` or the server's *own* variable (the one
  the server itself reads for its key, e.g. ``VLLM_API_KEY``): never from a hosted provider's
  variable, which would send, say, a Cohere key to your vLLM host.
- ``route`` picks one of the routes the server documents for rerank, where it has several.
- Most speak a Jina-style body, ``{query, documents, top_n}`` answered with
  ``{results: [{index, relevance_score}]}``; :meth:`_payload` and :meth:`_parse` do that.

Example:
    >>> from rag_rerankers.backends.localai import LocalAIReranker
    >>> rr = LocalAIReranker(base_url="http://localai:8080")
    >>> rr._payload("q", ["a", "b"], None)
    {'query': 'q', 'documents': ['a', 'b'], 'top_n': 2}
"""

from __future__ import annotations

from typing import Any, ClassVar

from rag_rerankers.backends._api.http import HTTPXReranker
from rag_rerankers.backends._api.responses import extract_pairs
from rag_rerankers.errors import ConfigError
from rag_rerankers.options import Option


def route_option(routes: tuple[str, ...]) -> Option:
    """The ``route`` option of a server whose rerank answers at any of ``routes``."""
    return Option("route", "str", routes[0],
                  "Which of the server's rerank routes to post to (after base_url).",
                  nullable=False, choices=routes)


class ServerReranker(HTTPXReranker):
    """A self-hosted rerank server. A subclass sets ``backend``, ``score_type``, ``env_keys``
    (the server's own key variable, if any) and ``path``."""

    key_required = False
    base_url_required = True

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "documents": documents,
                                "top_n": top_n or len(documents)}
        if self.model:  # else the server's only (or default) model
            body["model"] = self.model
        return body

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        results = body.get("results") if isinstance(body, dict) else None
        return extract_pairs(self.backend, results,
                             lambda r: (r["index"], r["relevance_score"]))


class RoutedServerReranker(ServerReranker):
    """A server with several rerank routes: a subclass sets ``routes`` (the first is the
    default) and ``options = (route_option(routes),)``."""

    routes: ClassVar[tuple[str, ...]] = ("/v1/rerank",)

    def __init__(self, model: str | None = None, *, route: str | None = None, **common: Any) -> None:
        route = route or self.routes[0]
        if route not in self.routes:
            raise ConfigError(f"{self.backend}: route must be one of {list(self.routes)}, "
                              f"got {route!r}")
        super().__init__(model, **common)
        self.route = self.path = route
