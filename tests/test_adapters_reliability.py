"""The adapters' input: any iterable of nodes.

- the LlamaIndex postprocessor accepts any iterable of ``NodeWithScore`` (a generator used to
  fail with a raw ``TypeError`` or "0 metadata entries"), like the LangChain compressor.

The table in docs/reliability.md ("Adapters as objects") lists the same cases.
"""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankStartEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from langchain_rerankers import RerankCompressor
from llamaindex_rerankers import RerankPostprocessor
from rag_rerankers.errors import InvalidInputError

QUERY = "bicycle chain"
TEXTS = ["baking bread", "oil the bicycle chain", "a chain of shops", "bicycle chain bicycle chain"]


def _docs() -> list[Document]:
    return [Document(page_content=t, metadata={"i": i}) for i, t in enumerate(TEXTS)]


def _nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}", metadata={"i": i}), score=0.5)
        for i, t in enumerate(TEXTS)
    ]


def _compress(comp: RerankCompressor) -> list[int]:
    return [d.metadata["i"] for d in comp.compress_documents(_docs(), QUERY)]


def _post(post: RerankPostprocessor) -> list[int]:
    return [n.node.metadata["i"] for n in post.postprocess_nodes(_nodes(), query_str=QUERY)]


def _adapter(kind: str, reranker, **kwargs):
    kwargs.setdefault("top_n", None)
    if kind == "langchain":
        return RerankCompressor(reranker=reranker, **kwargs)
    return RerankPostprocessor(reranker=reranker, metadata_mode="none", **kwargs)


def _run(adapter) -> list[int]:
    return _compress(adapter) if isinstance(adapter, RerankCompressor) else _post(adapter)


ADAPTERS = ["langchain", "llamaindex"]


# --------------------------------------------------------------------------- 9: any iterable of nodes
class _Starts(BaseEventHandler):
    seen: list = []

    @classmethod
    def class_name(cls) -> str:
        return "_Starts"

    def handle(self, event, **kwargs) -> None:
        if isinstance(event, ReRankStartEvent):
            self.seen.append(event)


@pytest.fixture
def starts():
    handler = _Starts(seen=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    yield handler.seen
    root.event_handlers.remove(handler)


def _iterables():
    return {
        "generator": lambda nodes: (n for n in nodes),
        "iterator": lambda nodes: iter(nodes),
        "tuple": tuple,
        "dict values": lambda nodes: {n.node.node_id: n for n in nodes}.values(),
    }


@pytest.mark.parametrize("top_n", [None, 2])
@pytest.mark.parametrize("how", list(_iterables()))
def test_llamaindex_accepts_any_iterable_of_nodes(how, top_n, starts):
    post = RerankPostprocessor(reranker="bm25", top_n=top_n, metadata_mode="none")
    want = [n.node.node_id for n in post.postprocess_nodes(_nodes(), query_str=QUERY)]
    make = _iterables()[how]
    got = [n.node.node_id for n in post.postprocess_nodes(make(_nodes()), query_str=QUERY)]
    agot = [
        n.node.node_id
        for n in asyncio.run(
            post.apostprocess_nodes(make(_nodes()), query_bundle=QueryBundle(QUERY))
        )
    ]
    assert got == agot == want and len(want) == (top_n or len(TEXTS))
    assert [len(e.nodes) for e in starts] == [len(TEXTS)] * 3  # the event sees the whole list


def test_llamaindex_generator_with_a_bad_item_names_it_and_empty_generator_is_empty():
    post = RerankPostprocessor(reranker="bm25")
    mixed = (x for x in [_nodes()[0], TextNode(text="bare")])
    with pytest.raises(InvalidInputError, match="node 1 is TextNode, not NodeWithScore"):
        post.postprocess_nodes(mixed, query_str=QUERY)
    assert post.postprocess_nodes((n for n in []), query_str=QUERY) == []
    with pytest.raises(InvalidInputError, match="query is empty"):
        post.postprocess_nodes((n for n in []), query_str=" ")


@pytest.mark.parametrize("bad", ["one string", None, {"a": 1}, 42, b"bytes"])
def test_llamaindex_nodes_that_are_not_an_iterable(bad):
    post = RerankPostprocessor(reranker="bm25")
    with pytest.raises(InvalidInputError, match="nodes must be a sequence"):
        post.postprocess_nodes(bad, query_str=QUERY)
    with pytest.raises(InvalidInputError, match="nodes must be a sequence"):
        asyncio.run(post.apostprocess_nodes(bad, query_str=QUERY))
