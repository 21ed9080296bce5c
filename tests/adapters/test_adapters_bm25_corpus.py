"""The documents a user indexed with LangChain or LlamaIndex as the bm25 reranker's corpus."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from llama_index.core import Document as LlamaDocument
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from langchain_rerankers import RerankCompressor
from llamaindex_rerankers import RerankPostprocessor
from rag_rerankers.backends.bm25 import BM25Reranker
from rag_rerankers.backends.bm25_stats import BM25CorpusStats

# In the corpus 'bicycle' is rare and 'chain' common; every candidate holds 'bicycle' (as
# after a BM25 first stage), so the candidates' own statistics make 'chain' decide.
CORPUS = ["bicycle repair"] + [f"chain store number {i}" for i in range(20)]
CANDIDATES = ["bicycle chain", "bicycle bicycle", "bicycle bicycle bicycle"]
QUERY = "bicycle bicycle chain"


@pytest.mark.parametrize(
    "make",
    [
        lambda t: Document(page_content=t, metadata={"source": "x"}),
        lambda t: TextNode(text=t, metadata={"source": "x"}),
        lambda t: LlamaDocument(text=t, metadata={"source": "x"}),
        lambda t: NodeWithScore(node=TextNode(text=t), score=1.0),
    ],
    ids=["langchain-document", "llamaindex-textnode", "llamaindex-document", "node-with-score"],
)
def test_framework_documents_fit_like_their_texts(make) -> None:
    from_docs = BM25CorpusStats.fit([make(t) for t in CORPUS])
    assert from_docs == BM25CorpusStats.fit(CORPUS)  # metadata is not counted


def test_langchain_compressor_with_corpus_statistics() -> None:
    corpus = [Document(page_content=t) for t in CORPUS]
    candidates = [Document(page_content=t, metadata={"id": i}) for i, t in enumerate(CANDIDATES)]
    plain = RerankCompressor(reranker="bm25", top_n=None).compress_documents(candidates, QUERY)
    assert plain[0].metadata["id"] == 0
    fitted = RerankCompressor(reranker=BM25Reranker.fit(corpus), top_n=None)
    out = fitted.compress_documents(candidates, QUERY)
    assert [d.metadata["id"] for d in out] == [2, 1, 0]
    assert all("relevance_score" not in d.metadata for d in candidates)  # not mutated


def test_llamaindex_postprocessor_with_corpus_statistics(tmp_path) -> None:
    nodes = [TextNode(text=t) for t in CORPUS]
    path = BM25CorpusStats.fit(nodes).save(tmp_path / "stats.json")
    post = RerankPostprocessor(reranker=f"bm25?corpus_stats={path}", top_n=2, metadata_mode="none")
    candidates = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=1.0)
                  for i, t in enumerate(CANDIDATES)]
    out = post.postprocess_nodes(candidates, QueryBundle(QUERY))
    assert [n.node.node_id for n in out] == ["n2", "n1"]
