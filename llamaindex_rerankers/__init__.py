"""LlamaIndex adapter for rag-rerankers.

Example:
    >>> from llamaindex_rerankers import RerankPostprocessor
    >>> postprocessor = RerankPostprocessor(reranker="bm25", top_n=3)
"""

from llamaindex_rerankers.postprocessor import RerankPostprocessor, init_postprocessor

__all__ = ["RerankPostprocessor", "init_postprocessor"]
