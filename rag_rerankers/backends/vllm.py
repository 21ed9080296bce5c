"""``vllm``: a vLLM server (``vllm serve <reranker>``) through its rerank or score routes.

vLLM serves the same scoring at three routes, chosen with ``route``:

- ``/v1/rerank`` (default) and ``/v2/rerank``: ``{model?, query, documents, top_n}`` answered
  with ``{id, model, usage, results: [{index, document, relevance_score}]}``, best first
  (``top_n`` 0 or absent: every document). v1 follows Jina's format, v2 Cohere's; the two take
  the same body in vLLM.
- ``/score``: ``{model?, text_1: query, text_2: [documents]}`` answered with
  ``{data: [{index, object: "score", score}]}`` in input order (no ``top_n``).

Scores: vLLM applies the model's activation by default (a sigmoid for one-label cross-encoders
such as bge-reranker, the yes/no softmax for Qwen3-Reranker), so they are probabilities in
[0, 1] (an embedding model served at ``/score`` gives cosine similarities in [-1, 1]
instead). Errors come back as ``{"error": {"message", "type", "code"}}`` (older releases:
``{"object": "error", "message", ...}``). ``base_url`` is required; the key (vLLM's
``--api-key``) is optional, from ``api_key`` or ``VLLM_API_KEY``. vLLM has no per-request
document limit; requests are split at 1000 documents unless ``max_documents_per_request`` says
otherwise.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key=None) as server:
    ...     rr = init_reranker("vllm?route=/score", base_url=server.base_url("vllm"))
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES
from rag_rerankers.backends._api.http import HTTPX_REQUIRES
from rag_rerankers.backends._api.responses import extract_pairs
from rag_rerankers.backends._api.servers import RoutedServerReranker, route_option
from rag_rerankers.registry import BackendInfo
from rag_rerankers.types import ScoreType

ROUTES = ("/v1/rerank", "/v2/rerank", "/score")


class VLLMReranker(RoutedServerReranker):
    """vLLM ``/v1/rerank``, ``/v2/rerank`` or ``/score``. Options: ``route`` plus the common
    API options."""

    backend = "vllm"
    score_type = ScoreType.PROBABILITY
    env_keys = ("VLLM_API_KEY",)
    routes = ROUTES
    options = (route_option(ROUTES),)

    def __init__(self, model: str | None = None, *, route: str | None = None,
                 **common: Any) -> None:
        super().__init__(model, route=route, **common)
        self.supports_top_n = self.route != "/score"  # /score always scores every pair

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        if self.route != "/score":
            return super()._payload(query, documents, top_n)
        body: dict[str, Any] = {"text_1": query, "text_2": documents}
        if self.model:
            body["model"] = self.model
        return body

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        if self.route != "/score":
            return super()._parse(body)
        data = body.get("data") if isinstance(body, dict) else None
        return extract_pairs(self.backend, data, lambda r: (r["index"], r["score"]))


BACKEND = BackendInfo(
    VLLMReranker,
    "vLLM server: /v1/rerank, /v2/rerank or /score (base_url required).",
    requires=(*HTTPX_REQUIRES, *API_REQUIRES),
    docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html#re-rank-api",
    example="vllm:BAAI/bge-reranker-v2-m3?base_url=http://localhost:8000&top_n=5",
)
