"""``tei``: a Hugging Face Text Embeddings Inference server's ``POST {base_url}/rerank``.

``base_url`` is required (option, or the ``TEI_BASE_URL`` environment variable). TEI rejects
more than ``--max-client-batch-size`` texts per request (32 by default), so requests are split
at 32 unless ``max_documents_per_request`` says otherwise. Scores are TEI's default
sigmoid-activated relevance (``raw_scores: false``), in [0, 1]. An ``api_key`` (TEI's
``--api-key``) is optional.

Example:
    >>> from rag_rerankers import init_reranker
    >>> from rag_rerankers.testing import FakeRerankServer
    >>> with FakeRerankServer(api_key=None) as server:
    ...     rr = init_reranker("tei", base_url=server.url)
    ...     [item.index for item in rr.rank("red apple", ["blue sky", "a red apple"])]
    [1, 0]
"""

from __future__ import annotations

from typing import Any

from rag_rerankers.backends._api.base import API_REQUIRES
from rag_rerankers.backends._api.http import HTTPX_REQUIRES, HTTPXReranker
from rag_rerankers.backends._api.responses import extract_pairs
from rag_rerankers.options import Option
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType


class TEIReranker(HTTPXReranker):
    """TEI ``/rerank``. Options: ``truncate`` plus the common API options."""

    backend = "tei"
    score_type = ScoreType.PROBABILITY
    base_url_env = ("TEI_BASE_URL",)
    key_required = False
    base_url_required = True
    default_max_documents = 32
    supports_top_n = False  # TEI's /rerank always scores every text
    path = "/rerank"
    options = (Option("truncate", "bool", True, "Let TEI truncate over-long inputs.", nullable=False),)

    def __init__(self, model: str | None = None, *, truncate: bool = True, **common: Any) -> None:
        super().__init__(model, **common)
        self.truncate = truncate

    def _payload(self, query: str, documents: list[str], top_n: int | None) -> dict[str, Any]:
        return {"query": query, "texts": documents, "truncate": self.truncate,
                "raw_scores": False, "return_text": False}

    def _parse(self, body: Any) -> list[tuple[int, float]]:
        return extract_pairs(self.backend, body if isinstance(body, list) else None,
                             lambda r: (r["index"], r["score"]))


BACKEND = BackendInfo(
    TEIReranker,
    "Hugging Face Text Embeddings Inference /rerank server (base_url required).",
    aliases=(Alias("text-embeddings-inference"),),
    requires=(*HTTPX_REQUIRES, *API_REQUIRES),
    docs_url="https://huggingface.github.io/text-embeddings-inference/",
    example="tei?base_url=http://localhost:8080&top_n=5",
)
