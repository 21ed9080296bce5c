"""Invariants (hypothesis) through the core and both adapters.

For any candidates, metadata, query and ``top_n``: no document is lost or invented, each
output keeps its source's text and metadata, the caller's objects are never mutated, and the
order is deterministic (and the same sync and async).
"""

from __future__ import annotations

import asyncio
import copy
import math
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_rerankers import init_reranker

from fakes import FixedReranker
from reliability.helpers import SURFACES

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
WORDS = ["apple", "pear", "red", "green", "bicycle", "chain", "the", "of", "café", "مرحبا", "🍎"]
# Any text hypothesis makes (it never makes lone surrogates), mixed with a small vocabulary
# so that BM25 finds matches and ties.
texts = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join),
    st.text(max_size=40),
)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
metadatas = st.dictionaries(st.sampled_from(["a", "b", "source", "page"]), json_values, max_size=3)
top_ns = st.one_of(st.none(), st.integers(min_value=1, max_value=12))
candidates = st.lists(st.tuples(texts, metadatas), min_size=0, max_size=12)
weird_scores = st.floats(allow_nan=True, allow_infinity=True, width=32)

BM25 = init_reranker("bm25")


def _check_order(scores: list[float]) -> None:
    finite = [s for s in scores if not math.isnan(s)]
    assert finite == sorted(finite, reverse=True)
    nan_at = [i for i, s in enumerate(scores) if math.isnan(s)]
    assert nan_at == list(range(len(finite), len(scores)))  # NaN only at the end


# Facts the ranking adds to each result's metadata (rag_rerankers.controls).
RANKING_FACTS = {"raw_score", "reranked", "reranked_by", "duplicates", "duplicate_of",
                 "chunk_span", "chunks"}


def _check_metadata(out: dict, source: dict, adapter_keys: set[str]) -> None:
    """Every source key kept with its value; anything added is a documented fact."""
    assert {k: out[k] for k in source} == source
    assert set(out) - set(source) <= RANKING_FACTS | adapter_keys
    assert adapter_keys <= set(out)


def _expected_len(n: int, top_n: int | None) -> int:
    return n if top_n is None else min(n, top_n)


# --------------------------------------------------------------------------- core
@SETTINGS
@given(candidates, queries, top_ns)
def test_core_rank_is_a_deterministic_prefix_of_a_permutation(cands, query, top_n) -> None:
    docs = [t for t, _ in cands]
    full = BM25.rank(query, docs, top_n=None)
    assert sorted(i.index for i in full) == list(range(len(docs)))
    assert all(i.document is docs[i.index] for i in full)
    assert [i.rank for i in full] == list(range(1, len(docs) + 1))
    _check_order([i.score for i in full])
    cut = BM25.rank(query, docs, top_n=top_n)
    assert cut == full[: _expected_len(len(docs), top_n)]
    assert pickle.loads(pickle.dumps(cut)) == cut  # results cross process boundaries
    assert asyncio.run(BM25.arank(query, docs, top_n=top_n)) == cut


@SETTINGS
@given(st.lists(weird_scores, min_size=1, max_size=12), top_ns)
def test_core_orders_any_scores(scores, top_n) -> None:
    docs = [f"d{i}" for i in range(len(scores))]
    out = FixedReranker(scores).rank("q", docs, top_n=top_n)
    assert len(out) == _expected_len(len(docs), top_n)
    assert len({i.index for i in out}) == len(out)
    _check_order([i.score for i in out])
    # ties (and NaNs) keep input order
    for a, b in zip(out, out[1:], strict=False):
        if a.score == b.score or (math.isnan(a.score) and math.isnan(b.score)):
            assert a.index < b.index


# --------------------------------------------------------------------------- LangChain
@SETTINGS
@given(candidates, queries, top_ns, st.booleans())
def test_langchain_invariants(cands, query, top_n, use_async) -> None:
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    docs = [Document(page_content=t, metadata=m, id=f"id{i}") for i, (t, m) in enumerate(cands)]
    snapshot = copy.deepcopy(docs)
    meta_ids = [id(d.metadata) for d in docs]
    comp = RerankCompressor(reranker=BM25, top_n=top_n)
    run = (lambda: asyncio.run(comp.acompress_documents(docs, query))) if use_async else (
        lambda: comp.compress_documents(docs, query)
    )
    out = run()
    # unmutated: equal to a deep copy taken before, same metadata objects
    assert docs == snapshot and [id(d.metadata) for d in docs] == meta_ids
    # nothing lost or invented
    assert len(out) == _expected_len(len(docs), top_n)
    ids = [d.id for d in out]
    assert len(set(ids)) == len(ids) and set(ids) <= {d.id for d in docs}
    if top_n is None:
        assert sorted(ids, key=lambda s: int(s[2:])) == [d.id for d in docs]
    # text and metadata preserved (plus the score)
    by_id = {d.id: d for d in docs}
    for d in out:
        src = by_id[d.id]
        assert d.page_content == src.page_content and d is not src
        _check_metadata(d.metadata, src.metadata, {"relevance_score"})
        assert d.metadata is not src.metadata
    _check_order([d.metadata["relevance_score"] for d in out])
    # deterministic, and the same through the other (sync/async) path
    assert run() == out
    other = comp.compress_documents(docs, query) if use_async else asyncio.run(
        comp.acompress_documents(docs, query)
    )
    assert other == out


# --------------------------------------------------------------------------- LlamaIndex
@SETTINGS
@given(candidates, queries, top_ns, st.booleans(), st.booleans())
def test_llamaindex_invariants(cands, query, top_n, use_async, keep_score) -> None:
    from llama_index.core.schema import NodeWithScore, TextNode

    from llamaindex_rerankers import RerankPostprocessor

    nodes = [
        NodeWithScore(node=TextNode(text=t, metadata=m, id_=f"n{i}"), score=float(i))
        for i, (t, m) in enumerate(cands)
    ]
    snapshot = [n.model_dump() for n in nodes]
    meta_ids = [id(n.node.metadata) for n in nodes]
    post = RerankPostprocessor(
        reranker=BM25, top_n=top_n, keep_retrieval_score=keep_score, metadata_mode="none"
    )

    def run():
        if use_async:
            return asyncio.run(post.apostprocess_nodes(nodes, query_str=query))
        return post.postprocess_nodes(nodes, query_str=query)

    out = run()
    assert [n.model_dump() for n in nodes] == snapshot
    assert [id(n.node.metadata) for n in nodes] == meta_ids
    assert len(out) == _expected_len(len(nodes), top_n)
    ids = [n.node.node_id for n in out]
    assert len(set(ids)) == len(ids) and set(ids) <= {n.node.node_id for n in nodes}
    by_id = {n.node.node_id: n for n in nodes}
    for n in out:
        src = by_id[n.node.node_id]
        assert n.node.text == src.node.text and n.node is not src.node
        _check_metadata(n.node.metadata, src.node.metadata,
                        {"retrieval_score"} if keep_score else set())
        if keep_score:
            assert n.node.metadata["retrieval_score"] == src.score
        assert n.node.metadata is not src.node.metadata
    _check_order([n.score for n in out])
    again = run()
    assert [(n.node.node_id, n.score) for n in again] == [(n.node.node_id, n.score) for n in out]


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_adapters_agree_with_the_core(adapter, sample) -> None:
    """Same candidates through each path: the same order and scores as the core."""
    docs = [d.content for d in sample.documents][:40]
    query = "how do vaccines work"
    want = [(i.index, i.score) for i in BM25.rank(query, docs, top_n=None)]
    assert SURFACES[adapter](BM25, query, docs, top_n=None) == want
