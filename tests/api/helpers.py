"""Helpers for the API backend tests: build backends against the fake server (the ``server``
fixture of ``api/conftest.py``)."""

from __future__ import annotations

from typing import Any

from rag_rerankers import init_reranker, list_backends
from rag_rerankers.base import Reranker
from rag_rerankers.testing import FakeRerankServer, lexical_score

KEY = "sk-test-0123456789abcdef"
# Every API backend the registry has: cohere, voyage, jina, mixedbread, tei and the self-hosted
# servers vllm, infinity, llama-cpp and localai.
BACKENDS = tuple(b["name"] for b in list_backends() if b["kind"] == "api")
# Backends that declare raw logits: their scores are sigmoid-normalized by default, so the
# exact-score tests ask for them as the server sent them (tests/api/test_servers.py checks the
# default).
LOGIT_BACKENDS = tuple(b["name"] for b in list_backends()
                       if b["kind"] == "api" and b["score_type"] == "logit")

QUERY = "how do bicycle gears work"
DOCS = [
    "Baking bread needs flour, water and yeast.",
    "Bicycle gears change the ratio between pedal and wheel turns.",
    "How gears work: a bicycle derailleur moves the chain between sprockets.",
    "The weather today is sunny.",
    "Bicycle gears",
    "Baking bread needs flour, water and yeast.",  # a duplicate of 0: same score, input order
]

# Tiny backoff and timeouts keep the fault matrix fast.
FAST: dict[str, Any] = {"backoff": 0.001, "max_backoff": 1.0, "timeout": 0.5,
                        "connect_timeout": 0.5}


def make(backend: str, server: FakeRerankServer, **options: Any) -> Reranker:
    """A backend pointed at the fake server, with fast retry settings unless overridden."""
    opts: dict[str, Any] = {**FAST, "api_key": KEY, "base_url": server.base_url(backend)}
    if backend in LOGIT_BACKENDS:
        opts["normalize"] = "none"
    opts.update(options)
    return init_reranker(backend, **opts)


def expected(query: str, docs: list[str]) -> list[tuple[int, float]]:
    """The fake server's answer: (index, score), score descending, ties in input order."""
    scores = [lexical_score(query, d) for d in docs]
    return sorted(enumerate(scores), key=lambda p: (-p[1], p[0]))


async def aclose(rr: Reranker) -> None:
    closer = getattr(rr, "aclose", None)
    if closer is not None:
        await closer()
