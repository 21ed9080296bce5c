"""rag_rerankers.text.estimate_tokens: the one token estimate (request budgets and cost estimates)."""

from __future__ import annotations

from rag_rerankers.evaluation import estimate_cost, pricing
from rag_rerankers.text import CHARS_PER_TOKEN, estimate_tokens


def test_estimate_is_conservative_three_characters_per_token() -> None:
    assert CHARS_PER_TOKEN == 3
    assert [estimate_tokens("x" * n) for n in (0, 1, 2, 3, 299, 300)] == [1, 1, 1, 2, 100, 101]
    # never fewer than the ~4 characters per token of English text with real tokenizers
    text = "Patch the inner tube, then check the tyre pressure on the sidewall."
    assert estimate_tokens(text) >= len(text) / 4


def test_cost_estimates_use_the_shared_estimate() -> None:
    assert pricing.estimate_tokens is estimate_tokens
    query, docs = "bicycle tyre", ["Patch the inner tube.", "Bake at 200 degrees."]
    tokens = estimate_tokens(query) * len(docs) + sum(estimate_tokens(d) for d in docs)
    assert estimate_cost("voyage", "rerank-2.5", query, docs) == round(tokens * 0.05 / 1e6, 10)
