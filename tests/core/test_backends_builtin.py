"""The two backends that need no download: bm25 and embedding (real all-MiniLM-L6-v2)."""

from __future__ import annotations

import asyncio

import pytest

from rag_rerankers import ModelNotFoundError, ScoreType, init_reranker

PASSAGES = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "To patch a punctured inner tube, roughen the area, apply glue and press the patch.",
    "Sourdough starter needs regular feeding with flour and water.",
    "A bicycle's tyre pressure should match the range printed on its sidewall.",
]


def test_bm25_ranks_lexical_match_first() -> None:
    rr = init_reranker("bm25")
    items = rr.rank("how to patch an inner tube puncture", PASSAGES)
    assert items[0].index == 1
    assert rr.score_type is ScoreType.UNBOUNDED
    # No shared term: every score is zero, order stays the input order.
    flat = rr.rank("zzzz qqqq", PASSAGES)
    assert [i.index for i in flat] == [0, 1, 2, 3]
    assert {i.score for i in flat} == {0.0}


@pytest.mark.parametrize(
    "docs",
    [["", " "], ["a the of", "is"], ["😀🚀", "\u05e9\u05dc\u05d5\u05dd"], ["x\x00y", "e\u0301"]],
)
def test_bm25_degenerate_candidates_score_zero(docs: list[str]) -> None:
    """Empty, stopword-only, emoji, RTL, NUL and combining-mark texts: no crash, all kept."""
    items = init_reranker("bm25").rank("what is the tyre pressure", docs)
    assert [i.index for i in items] == list(range(len(docs)))
    assert {i.score for i in items} == {0.0}


def test_bm25_stopword_only_query() -> None:
    items = init_reranker("bm25").rank("the of a", ["the cat", "of dogs"])
    assert [i.score for i in items] == [0.0, 0.0]


def test_bm25_parameters_change_scores() -> None:
    docs = ["tyre tyre tyre tyre pressure", "tyre"]
    a = init_reranker("bm25?k1=0.1").score("tyre", docs)
    b = init_reranker("bm25?k1=3.0").score("tyre", docs)
    assert a != b


def test_bm25_agrees_with_textbook_formula() -> None:
    """Lucene BM25 computed by hand on a tiny corpus equals the backend's scores."""
    import math

    docs = ["cat sat mat", "dog", "cat cat dog"]
    k1, b = 1.5, 0.75
    toks = [d.split() for d in docs]
    avgdl = sum(map(len, toks)) / len(toks)
    n = len(docs)

    def idf(t: str) -> float:
        df = sum(t in d for d in toks)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    expected = []
    for d in toks:
        tf = d.count("cat")
        expected.append(idf("cat") * tf / (tf + k1 * (1 - b + b * len(d) / avgdl)))
    got = init_reranker("bm25?stopwords=none").score("cat", docs)
    assert got == pytest.approx(expected, rel=1e-5)


def test_embedding_on_real_model_ranks_relevant_first(minilm) -> None:
    items = minilm.rank("How do I fix a flat bicycle tyre?", PASSAGES)
    assert items[0].index == 1
    assert items[-1].index == 0
    assert minilm.score_type is ScoreType.SIMILARITY
    assert all(-1.0 <= i.score <= 1.0 for i in items)


def test_embedding_on_sample_corpus_beats_chance(minilm, sample) -> None:
    """A grade-2 passage ranks first among 20 candidates for most judged queries."""
    texts = {d.id: d.content for d in sample.documents}
    wins = 0
    for n, q in enumerate(sample.queries):
        unjudged = [d for d in texts if d not in q.judgements]
        ids = list(q.judgements) + unjudged[n : n + 20 - len(q.judgements)]
        items = minilm.rank(q.text, [texts[i] for i in ids])
        wins += q.judgements.get(ids[items[0].index]) == 2
    assert wins >= 10, wins  # chance would be about 1.2 of 16


def test_embedding_shares_the_loaded_model() -> None:
    # Two fresh rerankers, not the session fixture: another test may release the cached models.
    first = init_reranker("embedding?offline=true")
    other = init_reranker("embedding?offline=true&batch_size=8")
    assert other._loaded is first._loaded


def test_embedding_async_equals_sync(minilm) -> None:
    q = "bicycle tyre pressure"
    assert asyncio.run(minilm.arank(q, PASSAGES)) == minilm.rank(q, PASSAGES)


def test_embedding_missing_model_says_where_it_looked(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-org/no-such-model.*offline=true"):
        init_reranker("embedding:no-such-org/no-such-model?offline=true")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="empty-model"):
        init_reranker(f"embedding:{empty}?offline=true")
