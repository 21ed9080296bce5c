"""fusion=rrf: reciprocal-rank fusion of the reranker's order with the input order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from rag_rerankers import ConfigError, init_reranker
from rag_rerankers.controls.setup import CONTROL_OPTION_NAMES

from fakes import FixedReranker

DOCS = ["d0", "d1", "d2", "d3", "d4"]
# Reranker order: d2, d3, d1, d4, d0; input (first-stage) order: d0, d1, d2, d3, d4.
SCORES = [0.0, 0.5, 0.9, 0.8, 0.1]


def fused(k: int) -> dict[int, float]:
    reranker_rank = {2: 1, 3: 2, 1: 3, 4: 4, 0: 5}
    return {i: 1 / (k + reranker_rank[i]) + 1 / (k + i + 1) for i in range(5)}


def test_rrf_order_and_scores_hand_checked() -> None:
    # k=60: d2 .03227, d1 .03200, d0 .03178, d3 .03175, d4 .03101
    items = FixedReranker(SCORES).configure(fusion="rrf").rank("q", DOCS)
    assert [i.index for i in items] == [2, 1, 0, 3, 4]
    assert [i.score for i in items] == pytest.approx([fused(60)[i.index] for i in items])
    assert [i.metadata["reranker_rank"] for i in items] == [1, 3, 5, 2, 4]
    assert [i.metadata["reranker_score"] for i in items] == [0.9, 0.5, 0.0, 0.8, 0.1]
    assert [i.metadata["raw_score"] for i in items] == [0.9, 0.5, 0.0, 0.8, 0.1]
    # Without fusion: the reranker's own order.
    assert [i.index for i in FixedReranker(SCORES).rank("q", DOCS)] == [2, 3, 1, 4, 0]


def test_rrf_k_changes_the_order() -> None:
    # k=0: d2 1.333, d0 1.2, d1 .833, d3 .75, d4 .45 -- the first stage's top counts more.
    items = FixedReranker(SCORES).configure(fusion="rrf", rrf_k=0).rank("q", DOCS)
    assert [i.index for i in items] == [2, 0, 1, 3, 4]
    assert items[0].score == pytest.approx(1 + 1 / 3)


def test_rrf_threshold_applies_to_the_reranker_score_then_top_n() -> None:
    rr = FixedReranker(SCORES).configure(fusion="rrf", score_threshold=0.4)
    assert [i.index for i in rr.rank("q", DOCS)] == [2, 1, 3]
    assert [i.index for i in rr.rank("q", DOCS, top_n=2)] == [2, 1]
    assert [i.rank for i in rr.rank("q", DOCS)] == [1, 2, 3]


def test_rrf_ties_keep_input_order() -> None:
    # Reranker reverses a 2-list: both get 1/(k+1) + 1/(k+2); input order breaks the tie.
    items = FixedReranker([0.1, 0.9]).configure(fusion="rrf").rank("q", ["a", "b"])
    assert [i.index for i in items] == [0, 1]
    assert items[0].score == items[1].score


def test_rrf_from_a_config_string_on_a_real_backend() -> None:
    docs = ["bread and butter", "oil the bicycle chain", "a bicycle", "bread"]
    rr = init_reranker("bm25?fusion=rrf&rrf_k=0&top_n=3")
    # bm25 order: 1, 2, then 0 and 3 tie at 0 (input order); fused with the input order:
    # d0 1/3+1=1.33, d1 1+1/2=1.5, d2 1/2+1/3=.83, d3 1/4+1/4=.5
    assert [i.index for i in rr.rank("bicycle chain", docs)] == [1, 0, 2]
    assert init_reranker("bm25?fusion=none").ranking_setup.controls.fusion == "none"


def test_rrf_is_the_same_async_and_for_every_duplicate() -> None:
    rr = FixedReranker({"a": 0.2, "b": 0.9, "c": 0.5}).configure(fusion="rrf")
    docs = ["a", "b", "a", "c"]
    sync = rr.rank("q", docs)
    assert asyncio.run(rr.arank("q", docs)) == sync
    assert sorted(i.index for i in sync) == [0, 1, 2, 3]
    assert next(i for i in sync if i.index == 2).metadata["duplicate_of"] == 0


class PartialReranker(FixedReranker):
    """A provider-like backend that can return only the best top_n (like Cohere's top_n)."""

    supports_partial_scores = True

    def __init__(self, scores: Sequence[float]) -> None:
        super().__init__(scores)
        self.asked: list[int | None] = []

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.asked.append(None)
        return super()._score(query, documents)

    def _score_top(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        self.asked.append(top_n)
        best = sorted(range(len(documents)), key=lambda i: -self.scores[i])[:top_n]
        return [(i, self.scores[i]) for i in best]


def test_rrf_asks_a_partial_backend_for_every_score() -> None:
    """Fusing needs every candidate's rank, so a backend's top_n shortcut is not used."""
    plain = PartialReranker(SCORES)
    plain.rank("q", DOCS, top_n=2)
    assert plain.asked == [2]
    fusing = PartialReranker(SCORES).configure(fusion="rrf")
    assert [i.index for i in fusing.rank("q", DOCS, top_n=2)] == [2, 1]
    assert fusing.asked == [None]


def test_rrf_bad_values_are_config_errors() -> None:
    assert {"fusion", "rrf_k"} <= CONTROL_OPTION_NAMES
    with pytest.raises(ConfigError, match="rrf_k must be >= 0"):
        init_reranker("bm25?fusion=rrf&rrf_k=-1")
    with pytest.raises(ConfigError, match="fusion"):
        init_reranker("bm25?fusion=sum")
