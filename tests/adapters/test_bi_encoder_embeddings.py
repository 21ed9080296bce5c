"""The packaged all-MiniLM-L6-v2 as a vector store's embedding: ``BiEncoderEmbeddings``
(LangChain) and ``BiEncoderEmbedding`` (LlamaIndex), over the ``embedding`` backend's model
cache, offline, without deprecation warnings or console output."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest

from rag_rerankers import ConfigError, init_reranker

DOCS = [
    "To patch a punctured inner tube, roughen the area, apply glue and press the patch.",
    "Sourdough starter needs regular feeding with flour and water.",
    "A bicycle's tyre pressure should match the range printed on its sidewall.",
]
QUERY = "How do I fix a flat bicycle tyre?"


@pytest.fixture(scope="module")
def minilm():
    return init_reranker("embedding?offline=true")


def test_langchain_embeddings_are_the_backends_vectors(minilm) -> None:
    from langchain_rerankers import BiEncoderEmbeddings

    emb = BiEncoderEmbeddings("embedding?offline=true")
    assert emb.reranker._loaded is minilm._loaded  # one model in memory for both stages
    docs = np.asarray(emb.embed_documents(DOCS))
    assert docs.shape == (3, 384)
    assert np.allclose(docs, minilm.embed(DOCS), atol=1e-6)
    assert np.allclose(emb.embed_query(QUERY), minilm.embed([QUERY], kind="query")[0], atol=1e-6)
    assert asyncio.run(emb.aembed_query(QUERY)) == pytest.approx(emb.embed_query(QUERY), abs=1e-6)


def test_langchain_vector_store_with_the_packaged_model(capfd) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_rerankers import BiEncoderEmbeddings

    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = InMemoryVectorStore.from_texts(DOCS, BiEncoderEmbeddings())
        top = store.similarity_search(QUERY, k=1)
    assert top[0].page_content == DOCS[0]
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)]
    out, err = capfd.readouterr()
    assert out == "" and "Loading weights" not in err


def test_prefixes_apply_by_kind(minilm) -> None:
    from langchain_rerankers import BiEncoderEmbeddings

    e5 = BiEncoderEmbeddings("embedding?offline=true", query_prefix="query: ",
                             document_prefix="passage: ")
    assert np.allclose(e5.embed_query("x"), minilm.embed(["query: x"])[0], atol=1e-6)
    assert np.allclose(e5.embed_documents(["x"])[0], minilm.embed(["passage: x"])[0], atol=1e-6)


def test_a_backend_without_embeddings_is_refused() -> None:
    from langchain_rerankers import BiEncoderEmbeddings
    from llamaindex_rerankers import BiEncoderEmbedding

    with pytest.raises(ConfigError, match="BiEncoderEmbeddings needs a bi-encoder.*'bm25'"):
        BiEncoderEmbeddings("bm25")
    with pytest.raises(ConfigError, match="BiEncoderEmbedding needs a bi-encoder"):
        BiEncoderEmbedding("bm25")


def test_llamaindex_embedding_in_a_vector_index(minilm) -> None:
    from llama_index.core import Document, VectorStoreIndex

    from llamaindex_rerankers import BiEncoderEmbedding, RerankPostprocessor

    embed_model = BiEncoderEmbedding()
    assert embed_model.reranker._loaded is minilm._loaded
    assert embed_model.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert np.allclose(embed_model.get_query_embedding(QUERY),
                       minilm.embed([QUERY], kind="query")[0], atol=1e-6)
    assert np.allclose(embed_model.get_text_embedding_batch(DOCS), minilm.embed(DOCS), atol=1e-6)
    assert asyncio.run(embed_model.aget_query_embedding(QUERY)) == pytest.approx(
        embed_model.get_query_embedding(QUERY), abs=1e-6)

    index = VectorStoreIndex.from_documents([Document(text=d) for d in DOCS],
                                            embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=3)
    nodes = retriever.retrieve(QUERY)
    assert nodes[0].node.get_content() == DOCS[0]
    reranked = RerankPostprocessor(reranker="bm25", top_n=2).postprocess_nodes(nodes, query_str=QUERY)
    assert len(reranked) == 2
