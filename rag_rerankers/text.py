"""Text helpers shared by the backends and the evaluation (no dependencies).

Example:
    >>> estimate_tokens(""), estimate_tokens("abc"), estimate_tokens("a" * 300)
    (1, 2, 101)
"""

from __future__ import annotations

__all__ = ["CHARS_PER_TOKEN", "estimate_tokens"]

CHARS_PER_TOKEN = 3
"""Characters counted per token by :func:`estimate_tokens`. English text averages about 4
characters per token with the providers' tokenizers; 3 over-counts on purpose, so a request
budget is never exceeded and a cost estimate errs high rather than low."""


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: ``len(text) // 3 + 1``.

    Assumes about 3 characters per token (:data:`CHARS_PER_TOKEN`), fewer than the ~4 of
    typical English, and adds one, so it over-counts rather than under-counts: every text,
    even an empty one, counts at least one token. Used for per-request token budgets (Voyage)
    and for the cost estimates of token-priced APIs (:mod:`rag_rerankers.evaluation.pricing`).
    Providers count with their own tokenizers; this is an estimate only.
    """
    return len(text) // CHARS_PER_TOKEN + 1
