"""LlamaIndex: RerankPostprocessor alone and in a VectorStoreIndex query engine, with events."""

from __future__ import annotations

import asyncio
import copy

import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.llms import MockLLM
from llama_index.core.schema import Document, NodeWithScore, QueryBundle, TextNode

from llamaindex_rerankers import RerankPostprocessor, init_postprocessor
from rag_rerankers import ConfigError, InvalidInputError

from adapters.helpers import llamaindex_embedding
from fakes import OverlapReranker

TEXTS = [
    "Sourdough starter needs feeding with flour and water.",
    "Pump the bicycle tyre to the pressure on its sidewall.",
    "A punctured bicycle tyre tube can be patched with glue.",
    "Planets shine steadily while stars twinkle.",
]


def _nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}", metadata={"i": i}), score=1.0 - i / 10)
        for i, t in enumerate(TEXTS)
    ]




def test_postprocess_returns_new_nodes(events) -> None:
    nodes = _nodes()
    before = copy.deepcopy(nodes)
    post = RerankPostprocessor(reranker="bm25", top_n=2, metadata_mode="none")
    out = post.postprocess_nodes(nodes, query_str="patch a punctured bicycle tyre")
    assert [n.node.node_id for n in out] == ["n2", "n1"]
    assert out[0].score >= out[1].score and isinstance(out[0].score, float)
    assert [n.model_dump() for n in nodes] == [n.model_dump() for n in before]  # untouched
    assert out[0].node is not nodes[2].node
    # Original metadata kept; the ranking controls add raw_score / reranked_by / reranked.
    assert out[0].node.metadata == {
        "i": 2, "raw_score": out[0].score, "reranked_by": "bm25", "reranked": True
    }
    start, end = events
    assert isinstance(start, ReRankStartEvent) and start.top_n == 2 and start.model_name == "bm25"
    assert isinstance(end, ReRankEndEvent) and [n.node.node_id for n in end.nodes] == ["n2", "n1"]


def test_keep_retrieval_score_is_hidden_from_llm_and_embedding() -> None:
    post = RerankPostprocessor(reranker="bm25", top_n=None, keep_retrieval_score=True)
    out = post.postprocess_nodes(_nodes(), query_str="flour water")
    first = out[0]
    assert first.node.metadata["retrieval_score"] == pytest.approx(1.0)
    assert "retrieval_score" in first.node.excluded_llm_metadata_keys
    assert "retrieval_score" in first.node.excluded_embed_metadata_keys
    assert "retrieval_score" not in first.node.get_content(metadata_mode="llm")
    assert all("retrieval_score" not in n.node.metadata for n in _nodes())


def test_no_query_is_a_clear_error() -> None:
    post = RerankPostprocessor(reranker="bm25")
    with pytest.raises(InvalidInputError, match="needs the query"):
        post.postprocess_nodes(_nodes())
    with pytest.raises(ConfigError, match="needs reranker"):
        RerankPostprocessor()  # type: ignore[call-arg]


def test_empty_nodes_never_call_backend() -> None:
    rr = OverlapReranker()
    post = RerankPostprocessor(reranker=rr)
    assert post.postprocess_nodes([], query_str="q") == []
    assert asyncio.run(post.apostprocess_nodes([], query_str="q")) == []
    assert rr.calls == rr.acalls == 0


def test_async_is_native_and_equal() -> None:
    rr = OverlapReranker()
    post = RerankPostprocessor(reranker=rr, top_n=None)
    sync = post.postprocess_nodes(_nodes(), query_bundle=QueryBundle("bicycle tyre"))
    asyn = asyncio.run(post.apostprocess_nodes(_nodes(), query_bundle=QueryBundle("bicycle tyre")))
    assert [(n.node.node_id, n.score) for n in sync] == [(n.node.node_id, n.score) for n in asyn]
    assert rr.acalls == 1


def test_top_n_semantics() -> None:
    assert RerankPostprocessor(reranker="bm25").top_n == 3
    assert RerankPostprocessor(reranker="bm25?top_n=4").top_n == 4
    assert init_postprocessor("bm25", top_n=1, keep_retrieval_score=True).keep_retrieval_score
    with pytest.raises(InvalidInputError):
        RerankPostprocessor(reranker="bm25", top_n=-1)


@pytest.fixture
def offline_settings():
    old_llm, old_embed = Settings._llm, Settings._embed_model
    Settings.llm = MockLLM()
    Settings.embed_model = llamaindex_embedding()
    yield
    Settings._llm, Settings._embed_model = old_llm, old_embed


def test_query_engine_query_and_aquery(offline_settings, events) -> None:
    docs = [Document(text=t, metadata={"i": i}) for i, t in enumerate(TEXTS)]
    index = VectorStoreIndex.from_documents(docs)
    engine = index.as_query_engine(
        similarity_top_k=4,
        node_postprocessors=[RerankPostprocessor(reranker="bm25", top_n=2, metadata_mode="none")],
        response_mode="no_text",
    )
    response = engine.query("how to patch a punctured bicycle tyre tube")
    assert [n.node.metadata["i"] for n in response.source_nodes] == [2, 1]
    aresponse = asyncio.run(engine.aquery("how to patch a punctured bicycle tyre tube"))
    assert [n.node.metadata["i"] for n in aresponse.source_nodes] == [2, 1]
    assert [n.score for n in aresponse.source_nodes] == [n.score for n in response.source_nodes]
    starts = [e for e in events if isinstance(e, ReRankStartEvent)]
    assert len(starts) == 2 and len(starts[0].nodes) == 4


def test_query_engine_with_llm_answer(offline_settings) -> None:
    """Reranked node text reaches the (mock) LLM's context."""
    index = VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS])
    engine = index.as_query_engine(
        similarity_top_k=4, node_postprocessors=[RerankPostprocessor(reranker="bm25", top_n=1)]
    )
    response = engine.query("planets twinkle")
    assert "Planets shine steadily" in response.source_nodes[0].node.get_content()
    assert str(response)  # MockLLM produced an answer from the reranked context
