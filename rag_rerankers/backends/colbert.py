"""``colbert``: late interaction (MaxSim) over a ColBERTv2 checkpoint.

The engine is sentence-transformers' own ``MultiVectorEncoder`` (6.x), which loads Stanford-NLP
ColBERTv2 folders as they are published (``HF_ColBERT`` config, BERT weights, the projection
stored as ``linear.weight``, ``artifact.metadata`` with the query/document markers and lengths)
and reproduces colbert-ai's encoding: ``[MASK]``-expanded queries of ``query_maxlen`` tokens,
documents cut at ``doc_maxlen`` with punctuation left out of the match. Why not RAGatouille,
PyLate or colbert-ai: see ``docs/local-backends.md``.

Score: for each query token, the best cosine similarity with any document token, summed over
the query tokens (:attr:`ScoreType.UNBOUNDED`; at most the query length, 32 by default).

Example:
    >>> [o.name for o in ColBERTReranker.declared_options()]
    ['top_n', 'device', 'batch_size', 'offline', 'progress', 'threads', 'max_length']
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rag_rerankers.backends._local import (
    LocalReranker,
    TruncationWarner,
    load_sentence_transformers,
    max_length_option,
)
from rag_rerankers.errors import ConfigError
from rag_rerankers.hub import SENTENCE_TRANSFORMERS_FILES
from rag_rerankers.models import LoadedModel
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType


def load_colbert(
    name: str, *, device: str | None = None, offline: bool = False
) -> LoadedModel[Any]:
    """Load (once per process) a ``MultiVectorEncoder`` from a ColBERT folder or hub name."""
    return load_sentence_transformers("MultiVectorEncoder", name, device=device, offline=offline,
                                      errors=(OSError, ValueError, KeyError),
                                      hub_files=ColBERTReranker.hub_files, backend="colbert")


# A Stanford ColBERTv2 folder loads into a BertModel with its projection beside it, so on every
# load transformers logs a 15-line "LOAD REPORT": `linear.weight` unexpected (sentence-transformers
# loads it into its own Dense module) and the pooler, which ColBERT never uses, missing.
EXPECTED_REPORT_KEYS = frozenset({"linear.weight", "pooler.dense.weight", "pooler.dense.bias"})
_REPORT_ROW = re.compile(r"^(\S+)\s*\|\s*(?:UNEXPECTED|MISSING|MISMATCH)\b", re.MULTILINE)


class ExpectedLoadReport(logging.Filter):
    r"""Drops, in the loading thread only, a transformers load report listing nothing but
    :data:`EXPECTED_REPORT_KEYS`; any other key (a real mismatch) is reported as usual.

    Example:
        >>> f = ExpectedLoadReport()
        >>> def record(msg):
        ...     return logging.LogRecord("transformers", logging.WARNING, "", 0, msg, None, None)
        >>> f.filter(record("BertModel LOAD REPORT\nlinear.weight | UNEXPECTED |"))
        False
        >>> f.filter(record("BertModel LOAD REPORT\nclassifier.weight | MISSING |"))
        True
    """

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        if threading.get_ident() != self.thread:
            return True
        message = record.getMessage()
        if "LOAD REPORT" not in message:
            return True
        keys = set(_REPORT_ROW.findall(message))
        return not (keys and keys <= EXPECTED_REPORT_KEYS)


@contextmanager
def expected_load_report() -> Iterator[None]:
    """Leave out the load report every ColBERTv2 folder triggers (see :class:`ExpectedLoadReport`)."""
    source = logging.getLogger("transformers.modeling_utils")
    quiet = ExpectedLoadReport()
    source.addFilter(quiet)
    try:
        yield
    finally:
        source.removeFilter(quiet)


def _transformer(encoder: Any) -> Any:
    return encoder[0]


class ColBERTReranker(LocalReranker):
    """ColBERT MaxSim: each query token's best match among the document's tokens, summed."""

    backend = "colbert"
    default_model = "colbert-ir/colbertv2.0"
    score_type = ScoreType.UNBOUNDED
    # Stanford-NLP checkpoints keep the query/document markers and lengths in artifact.metadata.
    hub_files = SENTENCE_TRANSFORMERS_FILES + ("artifact.metadata",)
    options = (
        max_length_option(None, "Max document tokens (default: the checkpoint's doc_maxlen; "
                          "longer ones are truncated, with a warning)."),
    )

    def __init__(self, model: str | None = None, *, max_length: int | None = None,
                 **common: Any) -> None:
        super().__init__(model, **common)
        if max_length is not None and max_length < 4:
            raise ConfigError(f"max_length must be >= 4 tokens, got {max_length!r}")
        with self.loading(), expected_load_report():
            self._loaded = load_colbert(self.model, device=self.device, offline=self.offline)
        encoder = self._loaded.model
        module = _transformer(encoder)
        default = getattr(module, "document_length", None) or encoder.max_seq_length
        self._override = max_length is not None
        self.max_length = int(max_length or default)
        self._truncation = TruncationWarner(self.name, self.max_length, scope="document")

    def token_window(self) -> Any:
        """Documents are encoded alone, in ``max_length`` tokens (marker and [CLS]/[SEP] included)."""
        from rag_rerankers.types import TokenWindow

        return TokenWindow(
            max_tokens=self.max_length,
            tokenizer=self._loaded.model.tokenizer,
            pair_with_query=False,
            reserved=3,
            lock=self._loaded.lock,
        )

    def _count_cut(self, documents: Sequence[str]) -> int:
        encoder = self._loaded.model
        prefix = encoder.prompts.get("document", "")
        lengths = encoder.tokenizer(
            [prefix + d for d in documents], truncation=False, verbose=False
        )["input_ids"]
        return sum(len(ids) > self.max_length for ids in lengths)

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        import torch

        encoder = self._loaded.model
        extra: dict[str, Any] = (
            {"processing_kwargs": {"text": {"max_length": self.max_length}}} if self._override else {}
        )
        with self._loaded.lock, torch.inference_mode():
            self._truncation.report(self._count_cut(documents), len(documents))
            q = encoder.encode_query([query], batch_size=self.batch_size, show_progress_bar=False)
            d = encoder.encode_document(
                list(documents), batch_size=self.batch_size, show_progress_bar=False, **extra
            )
            scores = [float((q[0] @ doc.T).max(dim=1).values.sum()) for doc in d]
        return scores


BACKEND = BackendInfo(
    ColBERTReranker,
    "ColBERTv2 late interaction (MaxSim) via sentence-transformers' MultiVectorEncoder.",
    aliases=(Alias("late-interaction"),),
    requires=(("sentence_transformers", "sentence-transformers"), ("torch", "torch")),
)
