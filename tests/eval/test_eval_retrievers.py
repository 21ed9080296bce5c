"""Your own retriever as the first stage of ``compare``: a LangChain FAISS retriever, a
LlamaIndex ``VectorStoreIndex`` (and its retriever), or a plain function."""

from __future__ import annotations

import pytest

from rag_rerankers.errors import ConfigError
from rag_rerankers.evaluation import compare, sample_dataset
from rag_rerankers.evaluation.retrievers import dataset_from_retriever, to_candidate

from adapters.helpers import langchain_embeddings, llamaindex_embedding


@pytest.fixture(scope="module")
def sample_set():
    return sample_dataset(depth=10)


@pytest.fixture(scope="module")
def corpus():
    from rag_rerankers.sample import load_sample

    return {d.id: d.content for d in load_sample().documents}


def test_langchain_faiss_retriever_is_the_first_stage(sample_set, corpus) -> None:
    pytest.importorskip("faiss")
    from langchain_community.vectorstores import FAISS

    store = FAISS.from_texts(list(corpus.values()), langchain_embeddings(),
                             metadatas=[{"id": d} for d in corpus])
    retriever = store.as_retriever(search_kwargs={"k": 8})
    cmp = compare(["bm25"], sample_set, ["nDCG@10", "Recall@10"], progress=False,
                  retriever=retriever)
    assert cmp.dataset["first_stage"] == "VectorStoreRetriever (langchain)"
    assert cmp.dataset["queries"] == len(sample_set.evaluated_qids)
    qid = sample_set.evaluated_qids[0]
    direct = [d.metadata["id"] for d in retriever.invoke(sample_set.queries[qid])]
    ds = dataset_from_retriever(retriever, sample_set.queries, sample_set.qrels)
    assert [c.docid for c in ds.candidates[qid]] == direct  # the retriever's order, its ids
    assert all(c.text == corpus[c.docid] for c in ds.candidates[qid])
    # The qrels match the retriever's ids: the metrics are real, not all zero.
    assert 0 < cmp.baseline.metrics["Recall@10"] <= 1
    assert cmp.results[1].n_failed == 0


def test_llamaindex_index_and_retriever_are_first_stages(sample_set, corpus) -> None:
    from llama_index.core import Settings, VectorStoreIndex
    from llama_index.core.schema import TextNode

    nodes = [TextNode(id_=d, text=t) for d, t in corpus.items()]
    index = VectorStoreIndex(nodes, embed_model=llamaindex_embedding())
    before = Settings._llm
    by_index = compare(["bm25"], sample_set, ["nDCG@10"], progress=False, retriever=index,
                       depth=6)
    assert by_index.dataset["first_stage"] == "VectorStoreIndex (llamaindex)"
    retriever = index.as_retriever(similarity_top_k=6)
    by_retriever = compare(["bm25"], sample_set, ["nDCG@10"], progress=False,
                           retriever=retriever)
    assert by_retriever.dataset["first_stage"] == "VectorIndexRetriever (llamaindex)"
    assert by_index.baseline.metrics == by_retriever.baseline.metrics
    assert by_index.baseline.metrics["nDCG@10"] > 0
    qid = sample_set.evaluated_qids[0]
    direct = [n.node.node_id for n in retriever.retrieve(sample_set.queries[qid])]
    assert by_index.baseline.rankings[qid] == direct
    assert Settings._llm is before  # no LLM was resolved (that would reach for OpenAI)


def test_plain_function_with_queries_only_and_a_judge() -> None:
    docs = {"a": "charging takes four hours", "b": "tyre pressure is 4 bar", "c": "e04 overheating"}

    def search(query):
        return sorted(({"id": d, "text": t} for d, t in docs.items()),
                      key=lambda x: -sum(w in x["text"] for w in query.split()))

    cmp = compare(["bm25"], {"q1": "how long charging takes", "q2": "tyre pressure"},
                  ["nDCG@10"], progress=False, retriever=search,
                  judge=lambda q, p: 3 if any(w in p for w in q.split() if len(w) > 3) else 0)
    assert cmp.dataset["queries"] == 2 and cmp.judging["pairs"] == 6
    assert cmp.baseline.metrics["nDCG@10"] == pytest.approx(1.0)


def test_document_ids() -> None:
    from langchain_core.documents import Document

    assert to_candidate(Document("x", metadata={"doc_id": "7"})).docid == "7"
    assert to_candidate(Document("x", id="own")).docid == "own"
    assert to_candidate(Document("x")).docid.startswith("h")  # a hash of the text
    assert to_candidate(("d1", "text")).docid == "d1"
    with pytest.raises(ConfigError):
        to_candidate(3.5)
    with pytest.raises(ConfigError, match="retriever"):
        compare(["bm25"], {"q": "x"}, retriever=42, progress=False)
    with pytest.raises(ConfigError, match="EvalDataset"):
        compare(["bm25"], {"q": "x"}, progress=False)
