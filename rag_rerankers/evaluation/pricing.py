"""Published prices of hosted rerank APIs, in one table, and cost estimates from them.

Keyed by backend name (``cohere``, ``voyage``, ``jina``, ``mixedbread``), then by model
(``"*"`` = any other model of that backend). Every entry names its source and the date it was
checked. Estimates are estimates: tokens are counted conservatively, ~3 characters each, by
:func:`rag_rerankers.text.estimate_tokens` (the providers use their own tokenizers; English
averages nearer 4, so token-priced estimates err high), and Cohere's split of very long
documents into several units is not modelled. Providers change prices: check the source
before relying on a figure.

Example:
    >>> estimate_cost("cohere", "rerank-v3.5", "q", ["d"] * 150)  # 2 search units
    0.004
    >>> estimate_cost("voyage", "rerank-2.5", "q" * 5, ["d" * 8] * 2)  # 2 x 2 + 3 + 3 tokens
    5e-07
    >>> estimate_cost("bm25", None, "q", ["d"]) is None
    True
    >>> llm_cost("openai:gpt-4.1-mini", 1_000_000, 100_000)  # $0.40 + $0.16
    0.56

Chat models used as rerankers (the ``llm`` backend) are priced per input and output token
from the counts the model reported (:data:`LLM_PRICES`, or the ``input_price`` /
``output_price`` options of the reranker).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rag_rerankers.text import estimate_tokens

Unit = Literal["search", "token"]


@dataclass(frozen=True)
class Price:
    """``usd`` per ``per`` units of ``unit`` (a search = one query with up to 100 documents)."""

    unit: Unit | None
    usd: float | None
    per: int
    source: str
    checked: str
    note: str = ""


CHECKED = "2026-11-25"

PRICES: dict[str, dict[str, Price]] = {
    "cohere": {
        "*": Price(
            "search", 2.00, 1000, "https://cohere.com/pricing", CHECKED,
            "Rerank 3.5 / 4.0: $2.00 per 1,000 searches; a search is one query with up to "
            "100 documents.",
        ),
    },
    "voyage": {
        "rerank-2.5": Price("token", 0.05, 1_000_000, "https://docs.voyageai.com/docs/pricing", CHECKED),
        "rerank-2": Price("token", 0.05, 1_000_000, "https://docs.voyageai.com/docs/pricing", CHECKED),
        "rerank-2.5-lite": Price("token", 0.02, 1_000_000, "https://docs.voyageai.com/docs/pricing", CHECKED),
        "rerank-2-lite": Price("token", 0.02, 1_000_000, "https://docs.voyageai.com/docs/pricing", CHECKED),
        "*": Price(
            "token", 0.05, 1_000_000, "https://docs.voyageai.com/docs/pricing", CHECKED,
            "Billed tokens = query tokens x documents + document tokens; the first 200M "
            "tokens per account are free.",
        ),
    },
    "jina": {
        "*": Price(
            None, None, 1, "https://jina.ai/reranker", CHECKED,
            "Sold as prepaid token packages shared across Jina APIs; no per-request list "
            "price to estimate from.",
        ),
    },
    "mixedbread": {
        "*": Price(
            None, None, 1, "https://www.mixedbread.com/pricing", CHECKED,
            "No per-request rerank price found in the sources we could check.",
        ),
    },
}


def find_price(backend: str, model: str | None) -> Price | None:
    """The price entry for a backend and model, or ``None`` (local backends, unknown ones)."""
    table = PRICES.get(backend)
    if table is None:
        return None
    return table.get(model or "*") or table.get("*")


def estimate_cost(
    backend: str, model: str | None, query: str, documents: Sequence[str]
) -> float | None:
    """Estimated USD for one rerank call, or ``None`` when no price is published."""
    price = find_price(backend, model)
    if price is None or price.usd is None or price.unit is None:
        return None
    if price.unit == "search":
        units = math.ceil(len(documents) / 100) if documents else 0
    else:
        q = estimate_tokens(query)
        units = q * len(documents) + sum(estimate_tokens(d) for d in documents)
    return round(units * price.usd / price.per, 10)


@dataclass(frozen=True)
class LLMPrice:
    """USD per million input and output tokens of a chat model (standard tier)."""

    input_usd: float
    output_usd: float
    source: str
    checked: str
    note: str = ""


_OPENAI = "https://openai.com/api/pricing/"
_OPENAI_NOTE = ("Standard tier (no batch or cached-input discount). Figures as listed in "
                "November 2026 by secondary sources quoting OpenAI's page; check the source.")

LLM_PRICES: dict[str, LLMPrice] = {
    "gpt-4.1": LLMPrice(2.00, 8.00, _OPENAI, "2026-11-29", _OPENAI_NOTE),
    "gpt-4.1-mini": LLMPrice(0.40, 1.60, _OPENAI, "2026-11-29", _OPENAI_NOTE),
    "gpt-4.1-nano": LLMPrice(0.10, 0.40, _OPENAI, "2026-11-29", _OPENAI_NOTE),
}
"""Chat-model prices keyed by model name (a ``provider:`` prefix is ignored when looking up)."""


def find_llm_price(model: str | None) -> LLMPrice | None:
    """The price of a chat model by name (``"openai:gpt-4.1-mini"`` or ``"gpt-4.1-mini"``).

    Example:
        >>> find_llm_price("openai:gpt-4.1-nano").input_usd
        0.1
        >>> find_llm_price("ollama:qwen3:8b") is None
        True
    """
    if not model:
        return None
    name = model.strip()
    if name in LLM_PRICES:
        return LLM_PRICES[name]
    return LLM_PRICES.get(name.partition(":")[2])


def llm_cost(
    model: str | None,
    input_tokens: int,
    output_tokens: int,
    *,
    input_price: float | None = None,
    output_price: float | None = None,
) -> float | None:
    """USD for this many tokens: from the given per-million prices, else from
    :data:`LLM_PRICES`; ``None`` when neither gives a price."""
    table = find_llm_price(model)
    pin = input_price if input_price is not None else (table.input_usd if table else None)
    pout = output_price if output_price is not None else (table.output_usd if table else None)
    if pin is None and pout is None:
        return None
    return round((input_tokens * (pin or 0.0) + output_tokens * (pout or 0.0)) / 1_000_000, 10)
