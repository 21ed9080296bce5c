"""``infinity``: an Infinity server (``infinity_emb v2 --model-id <reranker>``), ``POST /rerank``.

Infinity serves rerank at ``/rerank``, or at ``{prefix}/rerank`` when started with
``--url-prefix``: put the prefix in ``base_url`` (``http://host:7997/v1``). Request
``{query, documents, top_n, raw_scores: false, return_documents: false, model?}``; answer
``{object: "rerank", results: [{relevance_score, index}], model, usage}``, best first. With
``raw_scores`` false (sent explicitly) Infinity applies a sigmoid, so scores are probabilities
in [0, 1]. It refuses more than ``INFINITY_MAX_CLIENT_BATCH_SIZE`` documents per request (2048
by default, a 422): requests are split at 2048 unless ``max_documents_per_request`` says
otherwise. Errors: ``{"error": {"message", "type", "code"}}``, or FastAPI's ``{"detail": [...]}``
for a body it refuses. ``base_url`` is required; the key (``--api-key``) is optional, from
``api_key`` or ``INFINITY_API_KEY``.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key=None) as server:
    ...     rr = init_reranker(f"infinity?base_url={server.base_url('infinity')}")
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES
from rag_rerankers.backends._api.http import HTTPX_REQUIRES
from rag_rerankers.backends._api.servers import ServerReranker
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType


class InfinityReranker(ServerReranker):
    """Infinity ``/rerank``. Options: the common API options."""

    backend = "infinity"
    score_type = ScoreType.PROBABILITY
    env_keys = ("INFINITY_API_KEY",)
    default_max_documents = 2048
    path = "/rerank"  # a --url-prefix goes into base_url

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        return {**super()._payload(query, documents, top_n),
                "raw_scores": False, "return_documents": False}


BACKEND = BackendInfo(
    InfinityReranker,
    "Infinity server /rerank, with or without --url-prefix (base_url required).",
    aliases=(Alias("infinity-emb"),),
    requires=(*HTTPX_REQUIRES, *API_REQUIRES),
    docs_url="https://michaelfeil.github.io/infinity/",
    example="infinity:mixedbread-ai/mxbai-rerank-xsmall-v1?base_url=http://localhost:7997&top_n=5",
)
