"""Request splitting: a list over the per-request limit equals the single-request answer."""

from __future__ import annotations

import pytest

from rag_rerankers.errors import APIBadRequestError

from api.helpers import BACKENDS, aclose, make

QUERY = "bicycle chain gear oil"
WORDS = ["bicycle", "chain", "gear", "oil", "bread", "sky", "river", "stone", "lamp"]
# 30 candidates with varied overlap, some duplicates, some exact ties.
DOCS = [" ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 2 + i % 5)) for i in range(30)]
LIMIT = 7


def pairs(items):
    return [(i.index, i.score) for i in items]


def single_request_answer(backend, server):
    rr = make(backend, server, max_documents_per_request=1000)
    before = server.request_count
    answer = pairs(rr.rank(QUERY, DOCS, top_n=None))
    assert server.request_count == before + 1
    return answer


@pytest.mark.parametrize("backend", BACKENDS)
async def test_split_equals_single_request(backend, server):
    single = single_request_answer(backend, server)
    server.max_documents = {backend: LIMIT}
    rr = make(backend, server, max_documents_per_request=LIMIT)
    before = server.request_count
    assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == single
    assert server.request_count - before == 5  # ceil(30 / 7)
    sizes = [len(r.body.get("documents") or r.body.get("texts") or r.body.get("input"))
             for r in server.requests[-5:]]
    assert sizes == [7, 7, 7, 7, 2]
    assert pairs(await rr.arank(QUERY, DOCS, top_n=None)) == single  # request batches sent concurrently
    assert pairs(await rr.arank(QUERY, DOCS, top_n=4)) == single[:4]
    await aclose(rr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_over_limit_without_splitting_is_a_bad_request(backend, server):
    server.max_documents = {backend: LIMIT}
    rr = make(backend, server, max_documents_per_request=1000, max_retries=3)
    with pytest.raises(APIBadRequestError) as info:
        rr.rank(QUERY, DOCS)
    # TEI answers 413, Infinity FastAPI's 422, the others 400
    assert info.value.status == {"tei": 413, "infinity": 422}.get(backend, 400)
    assert info.value.attempts == 1


def test_tei_splits_at_32_by_default(server):
    server.max_documents = {"tei": 32}  # TEI's default --max-client-batch-size
    rr = make("tei", server)
    docs = [f"{d} {i}" for i, d in enumerate(DOCS * 3)]  # 90 distinct texts (copies: scored once)
    assert len(rr.rank(QUERY, docs, top_n=None)) == 90
    assert [len(r.body["texts"]) for r in server.requests] == [32, 32, 26]


def test_voyage_token_budget_splits(server, monkeypatch):
    single = single_request_answer("voyage", server)
    rr = make("voyage", server)
    monkeypatch.setattr(type(rr), "max_tokens_per_request", 60)
    chunks = rr.request_batches(QUERY, DOCS)
    assert len(chunks) > 1
    assert [d for _, c in chunks for d in c] == DOCS
    assert [o for o, _ in chunks] == [sum(len(c) for _, c in chunks[:k]) for k in range(len(chunks))]
    assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == single
