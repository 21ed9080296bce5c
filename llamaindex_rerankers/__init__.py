"""LlamaIndex adapter for rag-rerankers.

Example:
    >>> from llamaindex_rerankers import RerankPostprocessor
    >>> postprocessor = RerankPostprocessor(reranker="bm25", top_n=3)
"""

try:
    from llamaindex_rerankers.embedding import BiEncoderEmbedding
    from llamaindex_rerankers.postprocessor import RerankPostprocessor, init_postprocessor
except ModuleNotFoundError as exc:  # a core-only install: say which extra brings the framework
    if (exc.name or "").split(".")[0] not in ("llama_index", "pydantic"):
        raise
    from rag_rerankers.errors import MissingDependencyError

    raise MissingDependencyError("llamaindex", "llamaindex", exc.name or "", what="the LlamaIndex adapter") from None

__all__ = ["BiEncoderEmbedding", "RerankPostprocessor", "init_postprocessor"]
