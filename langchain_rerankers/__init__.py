"""LangChain adapter for rag-rerankers.

Example:
    >>> from langchain_rerankers import init_compressor
    >>> compressor = init_compressor("bm25", top_n=3)
"""

try:
    from langchain_rerankers.compressor import RerankCompressor, init_compressor
    from langchain_rerankers.embeddings import BiEncoderEmbeddings
except ModuleNotFoundError as exc:  # a core-only install: say which extra brings the framework
    if (exc.name or "").split(".")[0] not in ("langchain_core", "langchain_classic", "pydantic"):
        raise
    from rag_rerankers.errors import MissingDependencyError

    raise MissingDependencyError("langchain", "langchain", exc.name or "", what="the LangChain adapter") from None

__all__ = ["BiEncoderEmbeddings", "RerankCompressor", "init_compressor"]
