"""LangChain: RerankCompressor alone, in ContextualCompressionRetriever (FAISS),
in DocumentCompressorPipeline, in an LCEL chain, and under the standard retriever tests."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import DocumentCompressorPipeline
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_rerankers import RerankCompressor, init_compressor
from rag_rerankers import ConfigError, InvalidInputError

from adapters.helpers import langchain_embeddings
from fakes import OverlapReranker

DOCS = [
    Document("Sourdough starter needs feeding with flour and water.", metadata={"id": 1, "tags": ["bread"]}, id="a"),
    Document("Pump the bicycle tyre to the pressure on its sidewall.", metadata={"id": 2}, id="b"),
    Document("A punctured bicycle tyre tube can be patched with glue.", metadata={"id": 3}, id="c"),
    Document("Planets shine steadily while stars twinkle.", metadata={"id": 4}, id="d"),
]


def test_compress_returns_new_documents_in_order_with_scores() -> None:
    before = copy.deepcopy(DOCS)
    comp = RerankCompressor(reranker="bm25", top_n=2)
    out = comp.compress_documents(DOCS, "patch a punctured bicycle tyre")
    assert [d.metadata["id"] for d in out] == [3, 2]
    assert [d.id for d in out] == ["c", "b"]
    for d in out:
        assert type(d.metadata["relevance_score"]) is float
        assert d.page_content == next(x.page_content for x in DOCS if x.id == d.id)
    assert out[0].metadata["relevance_score"] >= out[1].metadata["relevance_score"]
    assert before == DOCS  # inputs untouched
    assert all("relevance_score" not in d.metadata for d in DOCS)
    assert out[0] is not DOCS[2] and out[0].metadata is not DOCS[2].metadata


def test_metadata_is_kept() -> None:
    out = RerankCompressor(reranker="bm25", top_n=None).compress_documents(DOCS, "sourdough flour")
    first = out[0]
    assert first.metadata["id"] == 1 and first.metadata["tags"] == ["bread"]
    assert len(out) == len(DOCS)


def test_top_n_semantics() -> None:
    assert RerankCompressor(reranker="bm25").top_n == 3  # documented default
    assert RerankCompressor(reranker="bm25?top_n=5").top_n == 5  # from the spec
    assert RerankCompressor(reranker="bm25?top_n=5", top_n=1).top_n == 1  # explicit wins
    assert RerankCompressor(reranker="bm25", top_n=None).top_n is None
    assert len(RerankCompressor(reranker="bm25", top_n=10).compress_documents(DOCS, "tyre")) == 4
    with pytest.raises(InvalidInputError):
        RerankCompressor(reranker="bm25", top_n=0)
    assert init_compressor("bm25?top_n=2").top_n == 2
    assert init_compressor("bm25", top_n=None, k1=1.0).reranker.k1 == 1.0


def test_empty_input_never_calls_backend() -> None:
    rr = OverlapReranker()
    comp = RerankCompressor(reranker=rr)
    assert comp.compress_documents([], "q") == []
    assert asyncio.run(comp.acompress_documents([], "q")) == []
    assert rr.calls == rr.acalls == 0


def test_async_is_native_and_equal() -> None:
    rr = OverlapReranker()
    comp = RerankCompressor(reranker=rr, top_n=None)
    sync = comp.compress_documents(DOCS, "bicycle tyre")
    asyn = asyncio.run(comp.acompress_documents(DOCS, "bicycle tyre"))
    assert sync == asyn
    assert rr.acalls == 1


def test_bad_inputs() -> None:
    comp = RerankCompressor(reranker="bm25")
    with pytest.raises(InvalidInputError, match="query is empty"):
        comp.compress_documents(DOCS, "  ")
    broken = Document.model_construct(page_content=None, metadata={})
    with pytest.raises(InvalidInputError, match="document 1 is NoneType"):
        comp.compress_documents([DOCS[0], broken], "q")
    with pytest.raises(ConfigError, match="needs reranker"):
        RerankCompressor()  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="unknown backend"):
        RerankCompressor(reranker="nope")


def _faiss_retriever(k: int = 4) -> BaseRetriever:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS
    store = FAISS.from_documents(DOCS, langchain_embeddings())
    return store.as_retriever(search_kwargs={"k": k})


def test_contextual_compression_retriever_with_faiss() -> None:
    retriever = ContextualCompressionRetriever(
        base_compressor=RerankCompressor(reranker="bm25", top_n=2),
        base_retriever=_faiss_retriever(),
    )
    out = retriever.invoke("how to patch a punctured bicycle tyre")
    assert [d.metadata["id"] for d in out] == [3, 2]
    aout = asyncio.run(retriever.ainvoke("how to patch a punctured bicycle tyre"))
    assert [(d.id, d.metadata) for d in aout] == [(d.id, d.metadata) for d in out]


def test_document_compressor_pipeline() -> None:
    from langchain_text_splitters import CharacterTextSplitter

    pipeline = DocumentCompressorPipeline(
        transformers=[
            CharacterTextSplitter(chunk_size=30, chunk_overlap=0, separator=" "),
            RerankCompressor(reranker="bm25", top_n=2),
        ]
    )
    out = pipeline.compress_documents(DOCS, "punctured tube glue")
    assert len(out) == 2
    assert out[0].page_content == "A punctured bicycle tyre tube"
    assert all("relevance_score" in d.metadata for d in out)


def test_lcel_chain() -> None:
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    retriever = ContextualCompressionRetriever(
        base_compressor=RerankCompressor(reranker="bm25", top_n=1),
        base_retriever=_faiss_retriever(),
    )
    prompt = PromptTemplate.from_template("Context: {context}\nQuestion: {question}")
    seen: list[str] = []

    def capture(p: Any) -> Any:
        seen.append(p.to_string())
        return p

    chain = (
        {"context": retriever | (lambda docs: docs[0].page_content), "question": RunnablePassthrough()}
        | prompt
        | capture
        | FakeListLLM(responses=["Use a patch."])
        | StrOutputParser()
    )
    assert chain.invoke("patch a punctured tube") == "Use a patch."
    assert "patched with glue" in seen[0]


def _conformance_retriever(k: int = 3) -> ContextualCompressionRetriever:
    docs = [Document(f"passage {i} about cats and dogs number {i}", metadata={"i": i}) for i in range(10)]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS
    base = FAISS.from_documents(docs, langchain_embeddings()).as_retriever(search_kwargs={"k": k})
    return ContextualCompressionRetriever(
        base_compressor=RerankCompressor(reranker="bm25", top_n=k), base_retriever=base
    )


class TestStandardRetriever(RetrieversIntegrationTests):
    """langchain-tests' standard retriever suite over a compression retriever using our compressor."""

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return _conformance_retriever  # type: ignore[return-value]

    @property
    def retriever_constructor_params(self) -> dict:
        return {"k": 3}

    @property
    def retriever_query_example(self) -> str:
        return "cats and dogs"
