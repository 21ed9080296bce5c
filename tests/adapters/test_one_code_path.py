"""The same candidates give the same order and scores through the core and both adapters."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from langchain_rerankers import RerankCompressor
from llamaindex_rerankers import RerankPostprocessor
from rag_rerankers import init_reranker


@pytest.mark.parametrize("spec", ["bm25", "embedding?offline=true"])
def test_core_compressor_postprocessor_agree(spec: str, sample) -> None:
    query = sample.queries[3].text
    texts = [d.content for d in sample.documents[:25]]
    core = [(i.index, i.score) for i in init_reranker(spec).rank(query, texts, top_n=10)]

    lc_docs = [Document(t, metadata={"pos": i}) for i, t in enumerate(texts)]
    lc = RerankCompressor(reranker=spec, top_n=10).compress_documents(lc_docs, query)
    lc_pairs = [(d.metadata["pos"], d.metadata["relevance_score"]) for d in lc]

    li_nodes = [NodeWithScore(node=TextNode(text=t, id_=str(i)), score=0.0) for i, t in enumerate(texts)]
    li = RerankPostprocessor(reranker=spec, top_n=10).postprocess_nodes(li_nodes, query_str=query)
    li_pairs = [(int(n.node.node_id), n.score) for n in li]

    assert core == lc_pairs == li_pairs
