"""Property-based tests (hypothesis) of the ranking pipeline over random candidate lists."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from langchain_rerankers import RerankCompressor
from rag_rerankers import init_reranker
from rag_rerankers.errors import ConfigError
from rag_rerankers.types import ScoreType

from fakes import FixedReranker, OverlapReranker

WORDS = ["red", "apple", "blue", "sky", "pear", "green"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
candidates = st.lists(texts, min_size=1, max_size=12)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
top_ns = st.one_of(st.none(), st.integers(min_value=1, max_value=14))
thresholds = st.one_of(st.none(), st.floats(min_value=-1.0, max_value=3.0))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scored_lists(draw):
    """Candidates, a score for each distinct text (ties and NaN included), a score type."""
    docs = draw(candidates)
    values = st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, -math.inf, math.inf]), st.floats(-5, 5), st.just(math.nan)
    )
    scores = {d: draw(values) for d in docs}
    return docs, scores, draw(st.sampled_from(list(ScoreType)))


def _nan_safe(score: float) -> object:
    return "nan" if math.isnan(score) else score


def _check_order(items):
    keys = [(math.isnan(i.score), 0.0 if math.isnan(i.score) else -i.score, i.index) for i in items]
    assert keys == sorted(keys)  # score descending, ties in input order, NaN last
    assert [i.rank for i in items] == list(range(1, len(items) + 1))


@SETTINGS
@given(scored_lists(), top_ns, thresholds, st.sampled_from(["auto", "none", "minmax"]))
def test_subset_sorted_top_n_and_threshold(data, top_n, threshold, normalize):
    docs, scores, score_type = data
    rr = FixedReranker(scores, score_type).configure(normalize=normalize)
    everything = rr.rank("q", docs, top_n=None)
    assert sorted(i.index for i in everything) == list(range(len(docs)))  # dedup keeps copies
    assert all(i.document == docs[i.index] for i in everything)
    _check_order(everything)

    if threshold is not None and score_type is ScoreType.RANK:
        # rank scores (1/rank) are positions: a threshold is refused, top_n is the way to cut
        with pytest.raises(ConfigError, match="Use top_n"):
            rr.configure(score_threshold=threshold)
        return
    cut = rr.configure(score_threshold=threshold).rank("q", docs, top_n=top_n)
    _check_order(cut)
    passing = [
        i for i in everything
        if threshold is None or (not math.isnan(i.score) and i.score >= threshold)
    ]
    want = passing if top_n is None else passing[:top_n]
    assert [(i.index, _nan_safe(i.score)) for i in cut] == [
        (i.index, _nan_safe(i.score)) for i in want
    ]
    assert all(math.isnan(i.score) or 0.0 <= i.score <= 1.0 for i in everything) or (
        normalize != "minmax"
    )


@SETTINGS
@given(candidates, queries, st.lists(st.integers(0, 11), max_size=6))
def test_cached_equals_uncached(docs, query, warm):
    plain = OverlapReranker().rank(query, docs)
    cached = OverlapReranker().configure(cache="memory")
    cached.rank(query, [docs[i % len(docs)] for i in warm] or docs[:1])  # partial warm-up
    first = cached.rank(query, docs)
    second = cached.rank(query, docs)
    view = lambda items: [(i.index, i.score, dict(i.metadata)) for i in items]  # noqa: E731
    assert view(first) == view(plain) == view(second)
    assert len(cached.received) <= 2  # warm-up + at most one call for the misses


@SETTINGS
@given(candidates, queries)
def test_cached_equals_uncached_bm25(docs, query):
    plain = init_reranker("bm25").rank(query, docs)
    cached = init_reranker("bm25?cache=memory")
    cached.rank(query, docs[:1])
    for _ in range(2):
        got = cached.rank(query, docs)
        assert [(i.index, i.score) for i in got] == [(i.index, i.score) for i in plain]


@SETTINGS
@given(candidates, queries, top_ns, st.sampled_from(["keep", "collapse"]))
def test_langchain_output_is_a_subset_with_metadata_intact(docs, query, top_n, dedup):
    inputs = [Document(page_content=d, metadata={"id": i, "tag": d[:3]}) for i, d in enumerate(docs)]
    comp = RerankCompressor(reranker=f"bm25?dedup={dedup}", top_n=top_n)
    out = comp.compress_documents(inputs, query)
    ids = [d.metadata["id"] for d in out]
    assert len(set(ids)) == len(ids) and set(ids) <= set(range(len(docs)))
    for doc in out:
        source = inputs[doc.metadata["id"]]
        assert doc.page_content == source.page_content
        assert {k: doc.metadata[k] for k in source.metadata} == source.metadata
        assert doc.metadata["relevance_score"] == doc.metadata["raw_score"]  # bm25: kept raw
    if dedup == "keep" and top_n is None:
        assert sorted(ids) == list(range(len(docs)))
    assert all(set(d.metadata) == {"id", "tag"} for d in inputs)  # inputs untouched


@SETTINGS
@given(
    st.lists(st.sampled_from(WORDS + ["  ", "\n"]), max_size=60).map(" ".join),
    st.integers(1, 12),
    st.integers(0, 11),
)
def test_windows_cover_every_word_within_size(text, size, overlap):
    from rag_rerankers.controls.chunk import windows

    overlap = min(overlap, size - 1)
    spans = windows(text, size, overlap)
    words = [m.span() for m in re.finditer(r"\S+", text)]
    if len(words) <= size:
        assert spans == [(0, len(text))]
        return
    for s, e in spans:
        assert len(text[s:e].split()) <= size
    for ws, we in words:  # every word is inside some window
        assert any(s <= ws and we <= e for s, e in spans)
    starts = [s for s, _ in spans]
    assert starts == sorted(set(starts))


@SETTINGS
@given(candidates, queries, top_ns, st.sampled_from(["max", "mean", "first"]))
def test_chunked_ranking_is_a_sorted_subset(docs, query, top_n, pooling):
    rr = init_reranker(f"bm25?long_docs=chunk&chunk_size=2&chunk_overlap=1&pooling={pooling}")
    items = rr.rank(query, docs, top_n=top_n)
    _check_order(items)
    assert len({i.index for i in items}) == len(items) == min(len(docs), top_n or len(docs))
    for item in items:
        start, end = item.metadata["chunk_span"]
        assert 0 <= start < end <= len(docs[item.index]) and item.document == docs[item.index]
