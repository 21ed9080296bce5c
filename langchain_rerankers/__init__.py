"""LangChain adapter for rag-rerankers.

Example:
    >>> from langchain_rerankers import init_compressor
    >>> compressor = init_compressor("bm25", top_n=3)
"""

from langchain_rerankers.compressor import RerankCompressor, init_compressor

__all__ = ["RerankCompressor", "init_compressor"]
