"""Helpers for the ranking-control tests: a failing and a tiny cross-encoder Reranker, test data.

The fakes shared with other areas (``OverlapReranker``, ``FixedReranker``) are in ``fakes``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar

from rag_rerankers import Reranker, RerankerError
from rag_rerankers.types import ScoreType


class UpstreamError(RerankerError, RuntimeError):
    """What an API backend raises when its provider fails (typed, like the real ones)."""


class FailingReranker(Reranker):
    """Fails every call with a typed error, sync and async (an API backend that is down)."""

    backend: ClassVar[str] = "failing"
    score_type: ClassVar[ScoreType] = ScoreType.RELEVANCE

    def __init__(self, model: str | None = "always-down", *, top_n: int | None = None) -> None:
        super().__init__(model=model, top_n=top_n)
        self.attempts = 0

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.attempts += 1
        raise UpstreamError("503 Service Unavailable from the provider")

    async def _ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        self.attempts += 1
        await asyncio.sleep(0)
        raise UpstreamError("503 Service Unavailable from the provider")


FILLER_SENTENCES = [
    "The old harbour town is known for its stone churches and narrow streets.",
    "Farmers in the valley grow barley, potatoes and apples every summer.",
    "The regional museum shows paintings from the eighteenth century.",
    "A small railway connects the villages along the river once a day.",
]
ANSWER = "To repair a punctured bicycle tyre, remove the inner tube and glue a rubber patch over the hole."
QUERY = "how do I repair a punctured bicycle tyre with a patch"


def long_document(sentences: int = 28) -> str:
    """Filler text (far past a 256-token window) with the answer as its last sentence."""
    filler = " ".join(FILLER_SENTENCES[i % len(FILLER_SENTENCES)] for i in range(sentences))
    return f"{filler} {ANSWER}"


def long_doc_candidates() -> list[str]:
    return [
        "Cycling is a popular way to commute in many European cities.",
        long_document(),
        "Check the tyre pressure of your car before a long trip.",
        "Bicycle races such as the Tour de France last three weeks.",
    ]


class TinyCrossEncoder(Reranker):
    """A real cross-encoder architecture (BERT, 1 layer, random weights) with a 64-token window.

    Test-only: it declares logits and reports its window (the query shares it), so the
    normalization and the query-aware window budget can be checked on a real model.
    """

    backend: ClassVar[str] = "tiny-cross-encoder"
    score_type: ClassVar[ScoreType] = ScoreType.LOGIT

    def __init__(self, folder: str, max_length: int = 64) -> None:
        super().__init__(model=folder)
        from sentence_transformers import CrossEncoder

        self.max_length = max_length
        self._ce = CrossEncoder(folder, max_length=max_length, device="cpu")
        self.calls: list[list[str]] = []

    @staticmethod
    def build(folder: str) -> str:
        """Write a random-weight BERT cross-encoder with the packaged MiniLM tokenizer."""
        import torch
        from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

        from rag_rerankers.models import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(
            resolve_model("sentence-transformers/all-MiniLM-L6-v2").location
        )
        config = BertConfig(
            vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
            num_attention_heads=2, intermediate_size=64, max_position_embeddings=512, num_labels=1,
        )
        torch.manual_seed(0)
        BertForSequenceClassification(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return folder

    def raw_logits(self, query: str, documents: Sequence[str]) -> list[float]:
        import torch

        return [
            float(s)
            for s in self._ce.predict(
                [(query, d) for d in documents], activation_fn=torch.nn.Identity(),
                show_progress_bar=False,
            )
        ]

    def token_window(self):  # type: ignore[no-untyped-def]
        from rag_rerankers.types import TokenWindow

        return TokenWindow(
            max_tokens=self.max_length, tokenizer=self._ce.tokenizer, pair_with_query=True,
            reserved=3,
        )

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.calls.append(list(documents))
        return self.raw_logits(query, documents)
