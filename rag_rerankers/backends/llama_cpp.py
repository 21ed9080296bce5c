"""``llama-cpp``: a llama.cpp server (``llama-server -m reranker.gguf --reranking``).

``POST /v1/rerank`` (default) or ``/rerank`` (``route``), Jina's format: ``{query, documents,
top_n, model?}`` answered with ``{model, object, usage, results: [{index, relevance_score}]}``.
Scores are the model's classification output as is: a raw logit for one-label cross-encoders
(bge-reranker: about -11 to +8), so the score type is ``logit``; for two-label yes/no heads
(Qwen3-Reranker GGUF) llama.cpp returns P(yes), which a sigmoid keeps in the same order. Every
document is scored and ``top_n`` is applied here, since older servers ignored it and returned
every result. Errors: ``{"error": {"code", "message", "type"}}``. ``base_url`` is required; the
key (``--api-key``) is optional, from ``api_key`` or ``LLAMA_API_KEY``.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key=None) as server:
    ...     rr = init_reranker("llama-cpp", base_url=server.base_url("llama-cpp"))
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from rag_rerankers.backends._api.base import API_REQUIRES
from rag_rerankers.backends._api.http import HTTPX_REQUIRES
from rag_rerankers.backends._api.servers import RoutedServerReranker, route_option
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType

ROUTES = ("/v1/rerank", "/rerank")


class LlamaCppReranker(RoutedServerReranker):
    """llama.cpp server ``/v1/rerank`` or ``/rerank``. Options: ``route`` plus the common API
    options."""

    backend = "llama-cpp"
    score_type = ScoreType.LOGIT
    env_keys = ("LLAMA_API_KEY",)
    supports_top_n = False
    routes = ROUTES
    options = (route_option(ROUTES),)


BACKEND = BackendInfo(
    LlamaCppReranker,
    "llama.cpp server (llama-server --reranking) /v1/rerank (base_url required).",
    aliases=(Alias("llamacpp"), Alias("llama-server")),
    requires=(*HTTPX_REQUIRES, *API_REQUIRES),
    docs_url="https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
    example="llama-cpp:bge-reranker-v2-m3?base_url=http://localhost:8080&top_n=5",
)
