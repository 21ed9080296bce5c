"""``localai``: a LocalAI server's Jina-compatible ``POST /v1/rerank``.

Request ``{model, query, documents, top_n}``; answer ``{model, usage, results: [{index,
document: {text}, relevance_score}]}``. ``model`` names the reranker in LocalAI's model config
(it has no default here: LocalAI picks the model by that name). Scores are what LocalAI's
backend returns unchanged: its ``rerankers`` backend and its llama.cpp backend both give the
cross-encoder's raw output, so the score type is ``logit``. Every document is scored and
``top_n`` is applied here. Errors: ``{"error": {"code", "message", "type"}}``. ``base_url`` is
required; the key (LocalAI's ``--api-keys``) is optional, from ``api_key`` or
``LOCALAI_API_KEY``.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key=None) as server:
    ...     rr = init_reranker("localai:cross-encoder", base_url=server.base_url("localai"))
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from rag_rerankers.backends._api.base import API_REQUIRES
from rag_rerankers.backends._api.http import HTTPX_REQUIRES
from rag_rerankers.backends._api.servers import ServerReranker
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType


class LocalAIReranker(ServerReranker):
    """LocalAI ``/v1/rerank``. Options: the common API options."""

    backend = "localai"
    score_type = ScoreType.LOGIT
    env_keys = ("LOCALAI_API_KEY",)
    supports_top_n = False
    path = "/v1/rerank"


BACKEND = BackendInfo(
    LocalAIReranker,
    "LocalAI server /v1/rerank, Jina-compatible (base_url required).",
    aliases=(Alias("local-ai"),),
    requires=(*HTTPX_REQUIRES, *API_REQUIRES),
    docs_url="https://localai.io/features/reranker/",
    example="localai:jina-reranker-v1-base-en?base_url=http://localhost:8080&top_n=5",
)
