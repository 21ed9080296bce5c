"""rank_fields (what the reranker reads) and dedup (identical contents scored once)."""

from __future__ import annotations

import pytest

from rag_rerankers import ConfigError, InvalidInputError, init_reranker

from fakes import OverlapReranker

QUERY = "bicycle repair guide"
DOCS = ["Chapter one.", "Chapter two.", "Chapter three."]
META = [{"title": "Baking bread"}, {"title": "Bicycle repair", "year": 2020}, {"title": "Gardening"}]


def test_rank_fields_reads_metadata_and_returns_the_original_document():
    plain = init_reranker("bm25").rank(QUERY, DOCS, metadata=META)
    assert all(i.score == 0.0 for i in plain)  # the content alone says nothing
    rr = init_reranker("bm25?rank_fields=title")
    items = rr.rank(QUERY, DOCS, metadata=META)
    assert items[0].index == 1 and items[0].score > 0
    assert [i.document for i in items] == [DOCS[i.index] for i in items]


def test_rank_fields_list_and_template_build_the_text_sent_to_the_backend():
    rr = OverlapReranker().configure(rank_fields=["title", "year"])
    rr.rank(QUERY, DOCS, metadata=META)
    assert rr.received[-1][1] == "title: Bicycle repair\nyear: 2020\nChapter two."
    assert rr.received[-1][0] == "title: Baking bread\nChapter one."  # missing fields are skipped
    tpl = OverlapReranker().configure(rank_fields="{title} ({year}): {content}")
    tpl.rank(QUERY, DOCS, metadata=META)
    assert tpl.received[-1][:2] == ["Baking bread (): Chapter one.", "Bicycle repair (2020): Chapter two."]
    no_meta = OverlapReranker().configure(rank_fields="title")
    no_meta.rank(QUERY, DOCS)
    assert no_meta.received[-1] == DOCS


def test_rank_fields_checks():
    with pytest.raises(ConfigError, match="content"):
        init_reranker("bm25", rank_fields="{title}")
    with pytest.raises(InvalidInputError, match="metadata"):
        init_reranker("bm25").rank(QUERY, DOCS, metadata=META[:2])


def test_duplicates_are_scored_once_and_all_returned():
    docs = ["red apples", "blue sky", "red   apples\n", "blue sky", "green pears"]
    rr = OverlapReranker()
    items = rr.rank("red apples", docs)
    assert rr.received == [["red apples", "blue sky", "green pears"]]
    assert sorted(i.index for i in items) == [0, 1, 2, 3, 4]  # nothing disappears
    assert [i.index for i in items][:2] == [0, 2]  # equal scores: input order
    by = {i.index: dict(i.metadata) for i in items}
    assert by[0]["duplicates"] == [2] and by[2]["duplicate_of"] == 0
    assert by[1]["duplicates"] == [3] and by[3]["duplicate_of"] == 1
    assert "duplicates" not in by[4] and "duplicate_of" not in by[4]


def test_dedup_collapse_keeps_the_first_copy_and_lists_the_others():
    docs = ["red apples", "blue sky", "red   apples\n", "green pears"]
    items = init_reranker("bm25?dedup=collapse").rank("red apples", docs)
    assert [i.index for i in items] == [0, 1, 3]
    assert items[0].metadata["duplicates"] == [2]
    kept = init_reranker("bm25?dedup=collapse&top_n=1").rank("red apples", docs)
    assert [i.index for i in kept] == [0]


def test_dedup_on_the_embedding_backend_gives_copies_the_same_score():
    docs = ["Patch the inner tube.", "Bake bread.", " Patch the  inner tube. "]
    items = init_reranker("embedding?offline=true").rank("fix a flat tyre", docs)
    by = {i.index: i for i in items}
    assert by[0].score == by[2].score and [i.index for i in items] == [0, 2, 1]
