"""Helpers for the reliability tests: one way to call the core and both adapters.

Each *surface* takes a reranker, a query and candidate texts, runs them through the core
(sync or async), the LangChain compressor or the LlamaIndex postprocessor, and answers the
same thing: ``[(input index, score), ...]`` best first. So one test checks all four paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from rag_rerankers.base import UNSET, Reranker

Result = list[tuple[int, float]]
INDEX_KEY = "_rel_index"


def core(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    return [(i.index, i.score) for i in rr.rank(query, texts, top_n)]


def core_async(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    return [(i.index, i.score) for i in asyncio.run(rr.arank(query, texts, top_n))]


def langchain(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    comp = RerankCompressor(reranker=rr, top_n=None if top_n is UNSET else top_n)
    docs = (
        texts
        if not isinstance(texts, (list, tuple))
        else [
            Document(page_content=t, metadata={INDEX_KEY: i})
            if isinstance(t, str)
            else Document.model_construct(page_content=t, metadata={INDEX_KEY: i})
            for i, t in enumerate(texts)
        ]
    )
    out = comp.compress_documents(docs, query)
    return [(d.metadata[INDEX_KEY], d.metadata["relevance_score"]) for d in out]


def llamaindex(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from llamaindex_rerankers import RerankPostprocessor

    post = RerankPostprocessor(
        reranker=rr, top_n=None if top_n is UNSET else top_n, metadata_mode="none"
    )
    nodes = [
        NodeWithScore(
            node=TextNode(text=t, id_=str(i))
            if isinstance(t, str)
            else TextNode.model_construct(text=t, id_=str(i), metadata={}),
            score=0.0,
        )
        for i, t in enumerate(texts)
    ]
    out = post.postprocess_nodes(nodes, query_bundle=QueryBundle(query_str=query))
    return [(int(n.node.node_id), n.score) for n in out]


SURFACES: dict[str, Callable[..., Result]] = {
    "core": core,
    "core-async": core_async,
    "langchain": langchain,
    "llamaindex": llamaindex,
}


def indices(result: Result) -> list[int]:
    return [i for i, _ in result]


def scores(result: Result) -> list[float]:
    return [s for _, s in result]


def is_permutation(result: Result, n: int) -> bool:
    return sorted(indices(result)) == list(range(n))


def sorted_desc(values: Sequence[float]) -> bool:
    return all(a >= b for a, b in zip(values, values[1:], strict=False))
