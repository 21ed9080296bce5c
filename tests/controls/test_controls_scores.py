"""normalize and score_threshold against real backends (bm25, embedding) and declared score types."""

from __future__ import annotations

import math

import pytest

from rag_rerankers import ConfigError, init_reranker
from rag_rerankers.controls.normalize import sigmoid
from rag_rerankers.types import ScoreType

from fakes import FixedReranker, OverlapReranker

DOCS = [
    "Patch the inner tube of the bicycle tyre.",
    "Bake the bread at 200 degrees.",
    "Inflate the bicycle tyre to the right pressure.",
    "The stock market closed higher today.",
]
QUERY = "how to fix a flat bicycle tyre"


def test_embedding_auto_maps_cosine_to_unit_interval_and_keeps_raw():
    items = init_reranker("embedding?offline=true").rank(QUERY, DOCS)
    raw = init_reranker("embedding?offline=true&normalize=none").rank(QUERY, DOCS)
    assert [i.index for i in items] == [i.index for i in raw]
    for item, plain in zip(items, raw, strict=True):
        assert 0.0 <= item.score <= 1.0
        assert item.metadata["raw_score"] == pytest.approx(plain.score, abs=1e-6)
        assert item.score == pytest.approx((plain.score + 1) / 2, abs=1e-6)
        assert plain.metadata["raw_score"] == plain.score
        assert item.metadata["reranked_by"] == "embedding:sentence-transformers/all-MiniLM-L6-v2"
        assert item.metadata["reranked"] is True


def test_bm25_auto_keeps_unbounded_scores_and_minmax_rescales():
    # BM25 has no fixed scale: auto keeps it as is.
    auto = init_reranker("bm25").rank(QUERY, DOCS)
    minmax = init_reranker("bm25?normalize=minmax").rank(QUERY, DOCS)
    assert [i.score for i in auto] == [i.metadata["raw_score"] for i in auto]
    assert [i.index for i in minmax] == [i.index for i in auto]
    assert minmax[0].score == 1.0 and minmax[-1].score == 0.0


def test_logits_go_through_sigmoid_and_provider_scores_are_kept():
    logits = FixedReranker({"a": 2.0, "b": -1.0}, ScoreType.LOGIT)
    items = logits.rank("q", ["a", "b"])
    assert [i.score for i in items] == [sigmoid(2.0), sigmoid(-1.0)]
    assert [i.metadata["raw_score"] for i in items] == [2.0, -1.0]
    relevance = FixedReranker({"a": 0.9, "b": 0.2}, ScoreType.RELEVANCE)
    assert [i.score for i in relevance.rank("q", ["a", "b"])] == [0.9, 0.2]
    probability = FixedReranker({"a": 0.7}, ScoreType.PROBABILITY)
    assert probability.rank("q", ["a"])[0].score == 0.7
    forced = FixedReranker({"a": 0.0}, ScoreType.RELEVANCE).configure(normalize="sigmoid")
    assert forced.rank("q", ["a"])[0].score == 0.5


def test_threshold_applies_after_normalization_then_top_n():
    scores = {"a": 3.0, "b": 0.5, "c": -0.1, "d": -4.0}  # sigmoid: .95 .62 .475 .018
    rr = FixedReranker(scores, ScoreType.LOGIT).configure(score_threshold=0.5)
    assert [i.document for i in rr.rank("q", list(scores))] == ["a", "b"]
    assert [i.document for i in rr.rank("q", list(scores), top_n=1)] == ["a"]
    raw = FixedReranker(scores, ScoreType.LOGIT).configure(score_threshold=0.5, normalize="none")
    assert [i.document for i in raw.rank("q", list(scores))] == ["a", "b"]
    none = FixedReranker(scores, ScoreType.LOGIT).configure(score_threshold=0.99)
    assert none.rank("q", list(scores)) == []


def test_threshold_drops_nan_and_keeps_equal_scores():
    rr = FixedReranker({"a": 0.5, "b": math.nan, "c": 0.4}, ScoreType.RELEVANCE)
    rr.configure(score_threshold=0.5)
    assert [i.document for i in rr.rank("q", ["a", "b", "c"])] == ["a"]


def test_one_threshold_means_the_same_on_embedding_from_a_config_string():
    rr = init_reranker("embedding?offline=true&score_threshold=0.6")
    kept = rr.rank(QUERY, DOCS)
    assert kept and all(i.score >= 0.6 for i in kept)
    everything = init_reranker("embedding?offline=true").rank(QUERY, DOCS)
    assert [i.index for i in kept] == [i.index for i in everything if i.score >= 0.6]


def test_controls_are_checked():
    with pytest.raises(ConfigError, match="normalize"):
        init_reranker("bm25?normalize=zscore")
    with pytest.raises(ConfigError, match="score_threshold"):
        init_reranker("bm25?score_threshold=high")
    with pytest.raises(ConfigError, match="unknown control"):
        OverlapReranker().configure(treshold=0.5)
    with pytest.raises(ConfigError, match="chunk_size"):
        init_reranker("bm25?long_docs=chunk")  # bm25 has no window: say how big one is
    with pytest.raises(ConfigError, match="chunk_overlap"):
        init_reranker("bm25?long_docs=chunk&chunk_size=10&chunk_overlap=10")


def test_controls_are_listed_for_every_backend():
    from rag_rerankers import list_backends

    for backend in list_backends():
        names = {o["name"] for o in backend["options"]}
        assert {"normalize", "score_threshold", "fallbacks", "on_error", "cache", "long_docs",
                "rank_fields", "dedup"} <= names
