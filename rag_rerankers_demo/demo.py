"""``rag-rerankers demo``: retrieve wide with FAISS, rerank through LangChain, measure.

The first stage is a light embedding fitted on the corpus (TF-IDF + 16-dimension LSA),
indexed in FAISS: deliberately cheap and weak, like many real first stages, and the demo says
so, since the gain it shows is over that first stage. The reranker (the packaged
all-MiniLM-L6-v2 bi-encoder by default: the one trained model that installs offline, from
PyPI; or any ``--reranker`` config string) reorders its top 20 through
``ContextualCompressionRetriever``. Everything runs offline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag_rerankers.sample import SampleCorpus, load_sample

METRICS = ("nDCG@10", "MRR@10", "Recall@10")
DEFAULT_QUERY = "q09"


class LSAEmbeddings(Embeddings):
    """TF-IDF + truncated SVD, fitted on a corpus: a small, deterministic first-stage embedding."""

    def __init__(self, corpus: Sequence[str], dimensions: int = 16, seed: int = 0) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(corpus)
        self._svd = TruncatedSVD(dimensions, random_state=seed).fit(self._tfidf.transform(corpus))

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        from sklearn.preprocessing import normalize

        vectors = normalize(self._svd.transform(self._tfidf.transform(list(texts))))
        return vectors.astype("float32").tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]


class FaissRetriever(BaseRetriever):
    """Inner-product FAISS index over normalized embeddings (cosine similarity), top ``k``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    documents: list[Document]
    embeddings: Embeddings
    k: int = 20

    @classmethod
    def from_documents(
        cls, documents: list[Document], embeddings: Embeddings, k: int = 20
    ) -> FaissRetriever:
        import faiss
        import numpy as np

        vectors = np.asarray(embeddings.embed_documents([d.page_content for d in documents]))
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors.astype("float32"))
        return cls(index=index, documents=documents, embeddings=embeddings, k=k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        import numpy as np

        k = int(kwargs.get("k", self.k))
        vector = np.asarray([self.embeddings.embed_query(query)], dtype="float32")
        scores, ids = self.index.search(vector, min(k, len(self.documents)))
        return [
            self.documents[i].model_copy(
                update={"metadata": {**self.documents[i].metadata, "retrieval_score": float(s)}}
            )
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0
        ]


def build_first_stage(sample: SampleCorpus, k: int = 20) -> FaissRetriever:
    """FAISS over LSA embeddings of the sample corpus."""
    docs = [
        Document(page_content=d.content, metadata={"id": d.id, "title": d.title}, id=d.id)
        for d in sample.documents
    ]
    return FaissRetriever.from_documents(docs, LSAEmbeddings([d.page_content for d in docs]), k=k)


def evaluate(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, MRR@10 and Recall@10 over the judged queries (ir-measures)."""
    from rag_rerankers.evaluation.metrics import mean, per_query

    return mean(per_query(runs, qrels, METRICS, qids=list(qrels)), METRICS)


def run_demo(
    reranker: str = "embedding?offline=true",
    query: str | None = None,
    k: int = 20,
    show: int = 5,
    *,
    use_async: bool = False,
) -> int:
    """Print before/after for one query and nDCG@10 / MRR@10 over every judged query."""
    from langchain_classic.retrievers import ContextualCompressionRetriever

    from langchain_rerankers import RerankCompressor

    sample = load_sample()
    first_stage = build_first_stage(sample, k=k)
    compressor = RerankCompressor(reranker=reranker, top_n=None)
    pipeline = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=first_stage
    )
    print(f"rag-rerankers demo: {len(sample.documents)} passages, {len(sample.queries)} judged queries")
    print(f"first stage: FAISS over TF-IDF+LSA embeddings, top {k}")
    print("             (deliberately weak: word counts squeezed into 16 dimensions, like a cheap")
    print("             first stage; the gain below is over that, not over a strong retriever)")
    print(f"reranker:    {compressor.reranker.name}")
    if compressor.reranker.backend == "embedding":
        print("             (a bi-encoder: the one trained model that installs offline, from PyPI;")
        print("             cross-encoders are built for this step: try --reranker 'bge', and")
        print("             measure on your data with rag-rerankers compare)")
    print()

    queries = {q.id: q.text for q in sample.queries}
    qrels = sample.qrels()
    # A query id ("q09") or free text; q09 shows a typical first-stage failure and its fix.
    shown = queries.get(query or DEFAULT_QUERY, query or "")
    before = first_stage.invoke(shown)
    after = pipeline.invoke(shown)
    judged = qrels.get(next((qid for qid, t in queries.items() if t == shown), ""), {})

    def line(rank: int, doc: Document, score_key: str) -> str:
        grade = judged.get(doc.metadata["id"])
        mark = {2: "**", 1: "* "}.get(grade, "  ") if grade is not None else "  "
        return f"  {rank:>2}. {mark}[{doc.metadata[score_key]:+.3f}] {doc.metadata['title']}"

    print(f'query: "{shown}"   (** answers it, * partly relevant)')
    print("before (first stage):")
    for r, doc in enumerate(before[:show], 1):
        print(line(r, doc, "retrieval_score"))
    print("after (reranked):")
    for r, doc in enumerate(after[:show], 1):
        print(line(r, doc, "relevance_score"))

    started = time.perf_counter()
    before_runs = {qid: [d.metadata["id"] for d in first_stage.invoke(t)] for qid, t in queries.items()}
    if use_async:
        async def all_queries() -> list[list[Document]]:
            return await asyncio.gather(*(pipeline.ainvoke(t) for t in queries.values()))

        results = asyncio.run(all_queries())
        after_runs = {qid: [d.metadata["id"] for d in docs] for qid, docs in zip(queries, results, strict=True)}
    else:
        after_runs = {qid: [d.metadata["id"] for d in pipeline.invoke(t)] for qid, t in queries.items()}
    elapsed = time.perf_counter() - started

    b, a = evaluate(before_runs, qrels), evaluate(after_runs, qrels)
    print(f"\nover {len(queries)} judged queries ({elapsed:.1f} s):")
    print(f"  {'metric':<10}{'before':>9}{'after':>9}{'change':>9}")
    for m in METRICS:
        change = a[m] - b[m]
        print(f"  {m:<10}{b[m]:>9.4f}{a[m]:>9.4f}{change:>+9.4f}")
    return 0 if all(math.isfinite(v) for v in a.values()) else 1
