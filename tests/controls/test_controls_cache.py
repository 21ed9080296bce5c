"""The opt-in result cache: memory and disk, partial hits, keys, and what reaches the backend."""

from __future__ import annotations

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.controls.cache import DiskCache, MemoryCache

from fakes import OverlapReranker

QUERY = "red apples and green pears"
DOCS = ["red apples", "green pears", "blue sky", "apples and pears"]


def _view(items):
    return [(i.index, i.score, dict(i.metadata)) for i in items]


def test_memory_cache_scores_only_the_misses():
    rr = OverlapReranker().configure(cache="memory")
    first = rr.rank(QUERY, DOCS)
    assert rr.received == [DOCS]
    again = rr.rank(QUERY, DOCS)
    assert len(rr.received) == 1 and _view(again) == _view(first)
    rr.rank(QUERY, ["apples and pears", "yellow bananas", "red apples"])
    assert rr.received[-1] == ["yellow bananas"]  # partial hit: only the miss is scored
    rr.rank("another query", ["red apples"])
    assert rr.received[-1] == ["red apples"]  # the query is part of the key


def test_cache_is_off_by_default_and_keys_on_options():
    plain = OverlapReranker()
    plain.rank(QUERY, DOCS)
    plain.rank(QUERY, DOCS)
    assert len(plain.received) == 2
    shared = MemoryCache(100)
    a = init_reranker("bm25?k1=1.2").configure(cache=shared)
    b = init_reranker("bm25?k1=0.9").configure(cache=shared)
    a.rank(QUERY, DOCS)
    assert len(shared) == 1
    b.rank(QUERY, DOCS)
    assert len(shared) == 2  # other options: another entry, never the other's scores


def test_memory_cache_is_size_bounded():
    rr = OverlapReranker().configure(cache="memory", cache_size=2)
    rr.rank(QUERY, DOCS)
    assert len(rr.ranking_setup.cache) == 2
    rr.rank(QUERY, DOCS)
    assert rr.received[-1] == DOCS[:2]  # the two oldest entries were evicted


def test_bm25_is_cached_per_whole_candidate_list():
    rr = init_reranker("bm25?cache=memory")
    calls = []
    score = rr._score
    rr._score = lambda q, d: calls.append(list(d)) or score(q, d)  # type: ignore[method-assign]
    first = rr.rank(QUERY, DOCS)
    assert _view(rr.rank(QUERY, DOCS)) == _view(first) and len(calls) == 1
    # Another list changes BM25's IDF: the whole list is scored again, never mixed.
    fewer = rr.rank(QUERY, DOCS[:3])
    assert calls[-1] == DOCS[:3]
    assert _view(fewer) == _view(init_reranker("bm25").rank(QUERY, DOCS[:3]))


def test_disk_cache_survives_a_new_reranker(tmp_path):
    spec = f"embedding?offline=true&cache=disk&cache_path={tmp_path}"
    first = init_reranker(spec)
    items = first.rank(QUERY, DOCS)
    first.ranking_setup.cache.close()
    second = init_reranker(spec)
    second._score = None  # type: ignore[assignment]  # any call to the model would fail
    assert _view(second.rank(QUERY, DOCS)) == _view(items)
    assert isinstance(second.ranking_setup.cache, DiskCache) and len(second.ranking_setup.cache) == 4


async def test_async_uses_the_same_cache():
    rr = OverlapReranker().configure(cache="memory")
    sync = rr.rank(QUERY, DOCS)
    assert _view(await rr.arank(QUERY, DOCS)) == _view(sync)
    assert len(rr.received) == 1


def test_cached_embedding_matches_uncached():
    cached = init_reranker("embedding?offline=true&cache=memory")
    plain = init_reranker("embedding?offline=true")
    cached.rank(QUERY, DOCS[:2])  # warm part of the list
    got = cached.rank(QUERY, DOCS)
    want = plain.rank(QUERY, DOCS)
    assert [i.index for i in got] == [i.index for i in want]
    assert [i.score for i in got] == pytest.approx([i.score for i in want], abs=1e-6)


def test_secrets_never_enter_the_key():
    from rag_rerankers.controls.cache import identity

    rr = OverlapReranker()
    rr.api_key = "sk-secret"  # type: ignore[attr-defined]
    rr.max_tokens_per_doc = 512  # type: ignore[attr-defined]
    ident = identity(rr)
    assert "sk-secret" not in repr(ident) and ident[3]["max_tokens_per_doc"] == 512
