"""Computed first stages over a whole corpus: ``bm25`` (bm25s) and ``faiss`` (embeddings).

Our ``bm25`` *reranker* builds an index per candidate list, which is right for reranking but
far too slow for retrieval over a corpus; here one bm25s index serves every query.

Example:
    >>> corpus = {"d1": "cats purr", "d2": "dogs bark", "d3": "cats chase dogs and birds all day"}
    >>> retrieve("bm25", {"q": "cats"}, corpus, depth=2)["q"]
    ['d1', 'd3']
"""

from __future__ import annotations

from collections.abc import Mapping

from rag_rerankers.errors import ConfigError, MissingDependencyError


def retrieve(
    method: str, queries: Mapping[str, str], corpus: Mapping[str, str], depth: int
) -> dict[str, list[str]]:
    """Top-``depth`` document ids per query, best first.

    ``method`` is ``"bm25"``, ``"faiss"`` (the packaged all-MiniLM-L6-v2) or
    ``"faiss:<embedding config string>"``, e.g. ``"faiss:embedding:BAAI/bge-small-en-v1.5"``.
    """
    if depth < 1:
        raise ConfigError(f"depth must be >= 1, got {depth}")
    if method == "bm25":
        return bm25_retrieve(queries, corpus, depth)
    if method == "faiss" or method.startswith("faiss:"):
        spec = method.partition(":")[2] or "embedding?offline=true"
        return faiss_retrieve(queries, corpus, depth, spec)
    raise ConfigError(f"unknown first stage {method!r}: use 'bm25', 'faiss' or 'faiss:<spec>'")


def bm25_retrieve(
    queries: Mapping[str, str], corpus: Mapping[str, str], depth: int
) -> dict[str, list[str]]:
    """BM25 (Lucene variant, k1=0.9, b=0.4 as Pyserini) over the corpus with bm25s."""
    try:
        import bm25s
    except ImportError as exc:
        raise MissingDependencyError("bm25 first stage", "bm25", "bm25s") from exc
    ids = list(corpus)
    k = min(depth, len(ids))
    if not ids or not queries:
        return {q: [] for q in queries}
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index(bm25s.tokenize([corpus[d] for d in ids], stopwords="en", show_progress=False),
                    show_progress=False)
    qids = list(queries)
    tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", show_progress=False)
    results, scores = retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
    out: dict[str, list[str]] = {}
    for row, qid in enumerate(qids):
        # Documents scoring 0 share nothing with the query: they are not retrieved.
        out[qid] = [ids[int(i)] for i, s in zip(results[row], scores[row], strict=True) if s > 0]
    return out


def faiss_retrieve(
    queries: Mapping[str, str], corpus: Mapping[str, str], depth: int, spec: str
) -> dict[str, list[str]]:
    """Exact inner-product search (FAISS) over normalized embeddings of an ``embedding`` spec."""
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss first stage", "demo", "faiss-cpu") from exc
    import numpy as np

    from rag_rerankers.backends.embedding import EmbeddingReranker
    from rag_rerankers.factory import init_reranker

    rr = init_reranker(spec)
    if not isinstance(rr, EmbeddingReranker):
        raise ConfigError(f"the faiss first stage needs an 'embedding' spec, got {spec!r}")
    ids = list(corpus)
    qids = list(queries)
    docs = rr.embed([corpus[d] for d in ids], kind="document")
    qs = rr.embed([queries[q] for q in qids], kind="query")
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(np.ascontiguousarray(docs, dtype="float32"))
    _, found = index.search(np.ascontiguousarray(qs, dtype="float32"), min(depth, len(ids)))
    return {q: [ids[int(i)] for i in found[row] if i >= 0] for row, q in enumerate(qids)}
