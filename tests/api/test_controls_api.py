"""Ranking controls on the API backends, against the fake rerank server (no network)."""

from __future__ import annotations

import logging

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.errors import APIServerError

from api.helpers import DOCS, KEY, QUERY, aclose, expected, make

UNIQUE = list(dict.fromkeys(DOCS))  # DOCS holds one duplicate


def _sent(request) -> list[str]:
    body = request.body
    return body.get("documents") or body.get("texts") or body.get("input")


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_provider_outage_falls_back_to_bm25(server, caplog, asynchronous):
    rr = make("cohere", server, max_retries=0, fallbacks=["bm25"])
    server.inject("status", status=503)
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        items = await rr.arank(QUERY, DOCS) if asynchronous else rr.rank(QUERY, DOCS)
    assert {i.metadata["reranked_by"] for i in items} == {"bm25"}
    assert [(i.index, i.score) for i in items] == [
        (i.index, i.score) for i in init_reranker("bm25").rank(QUERY, DOCS)
    ]
    message = next(r.getMessage() for r in caplog.records if "failed" in r.getMessage())
    assert "cohere:" in message and "APIServerError" in message and "falling back to bm25" in message
    assert KEY not in caplog.text
    # The provider is back: the next call is ranked by it again.
    back = rr.rank(QUERY, DOCS, top_n=None)
    assert back[0].metadata["reranked_by"].startswith("cohere")
    await aclose(rr)


def test_chain_from_a_config_string_with_the_fake_server(server):
    url = server.base_url("voyage")
    rr = init_reranker(
        f"voyage?base_url={url}&api_key={KEY}&max_retries=0&top_n=3 | embedding?offline=true"
    )
    assert [i.metadata["reranked_by"].split(":")[0] for i in rr.rank(QUERY, DOCS)] == ["voyage"] * 3
    server.inject("status", status=500)
    items = rr.rank(QUERY, DOCS)
    assert len(items) == 3 and items[0].metadata["reranked_by"].startswith("embedding:")


def test_passthrough_when_the_provider_is_down(server):
    rr = make("jina", server, max_retries=0, on_error="passthrough")
    server.inject("status", status=503)
    items = rr.rank(QUERY, DOCS, top_n=4)
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert not any(i.metadata["reranked"] for i in items)
    assert "APIServerError" in items[0].metadata["rerank_error"]
    with pytest.raises(APIServerError):
        server.inject("status", status=503)
        make("jina", server, max_retries=0).rank(QUERY, DOCS)


def test_cache_sends_only_the_misses_to_the_provider(server):
    rr = make("cohere", server, cache="memory")
    first = rr.rank(QUERY, DOCS, top_n=None)
    assert len(server.requests) == 1 and _sent(server.requests[-1]) == UNIQUE
    again = rr.rank(QUERY, DOCS, top_n=None)
    assert len(server.requests) == 1  # every score came from the cache
    assert [(i.index, i.score) for i in again] == [(i.index, i.score) for i in first]
    rr.rank(QUERY, [DOCS[1], "A brand new passage about bicycle gears."], top_n=None)
    assert _sent(server.requests[-1]) == ["A brand new passage about bicycle gears."]


def test_provider_scores_are_kept_and_thresholded(server):
    want = expected(QUERY, DOCS)
    items = make("mixedbread", server, score_threshold=0.5).rank(QUERY, DOCS, top_n=None)
    assert [(i.index, i.score) for i in items] == [(i, s) for i, s in want if s >= 0.5]
    assert all(i.score == i.metadata["raw_score"] for i in items)  # relevance: kept as is


def test_top_n_is_still_asked_of_the_provider_with_controls(server):
    rr = make("cohere", server, score_threshold=0.1)
    assert len(rr.rank(QUERY, DOCS, top_n=2)) <= 2
    assert server.requests[-1].body["top_n"] == 2
    cached = make("cohere", server, cache="memory")
    cached.rank(QUERY, DOCS, top_n=2)  # the cache needs every score
    assert server.requests[-1].body.get("top_n") is None


def test_rank_fields_are_what_the_provider_reads(server):
    rr = make("tei", server, rank_fields="title")
    metadata = [{"title": f"T{i}"} for i in range(len(DOCS))]
    items = rr.rank(QUERY, DOCS, top_n=None, metadata=metadata)
    assert _sent(server.requests[-1])[1] == f"title: T1\n{DOCS[1]}"
    assert {i.document for i in items} == set(DOCS)  # the originals come back
