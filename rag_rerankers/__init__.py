"""rag-rerankers: every popular reranker as one drop-in RAG stage, chosen by a config string.

Example:
    >>> from rag_rerankers import init_reranker
    >>> rr = init_reranker("bm25?top_n=1")
    >>> rr.rank("bicycle chain", ["baking bread", "oil the bicycle chain"])[0].document
    'oil the bicycle chain'
"""

from rag_rerankers.base import Reranker
from rag_rerankers.config import Spec, format_spec, parse_spec
from rag_rerankers.errors import (
    BackendError,
    ConfigError,
    InvalidInputError,
    LLMCallError,
    MissingCredentialsError,
    MissingDependencyError,
    ModelNotFoundError,
    RerankerError,
)
from rag_rerankers.factory import RerankerSpec, init_reranker, reranker_from_env
from rag_rerankers.models import release_models
from rag_rerankers.registry import list_backends, register_backend
from rag_rerankers.types import RankedItem, ScoreType

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ConfigError",
    "InvalidInputError",
    "LLMCallError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "RankedItem",
    "Reranker",
    "RerankerError",
    "RerankerSpec",
    "ScoreType",
    "Spec",
    "format_spec",
    "init_reranker",
    "list_backends",
    "parse_spec",
    "register_backend",
    "release_models",
    "reranker_from_env",
    "__version__",
]
