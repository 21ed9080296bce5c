"""Small value types shared by the core and the adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ScoreType(str, Enum):
    """What a backend's raw scores mean, so that later stages can make them comparable.

    - ``PROBABILITY``: already in [0, 1] (a sigmoid or softmax head).
    - ``LOGIT``: an unbounded logit; a sigmoid maps it to [0, 1].
    - ``SIMILARITY``: a cosine similarity in [-1, 1].
    - ``RELEVANCE``: a provider's 0-1 relevance score (Cohere, Voyage, Jina, ...).
    - ``UNBOUNDED``: a non-negative score with no fixed scale (BM25, MaxSim sums).
    - ``GRADE``: a graded relevance label 0-3 (an LLM judging each document); ``auto``
      normalization maps it to ``s / 3`` in [0, 1].
    - ``RANK``: a position, not a relevance (an LLM ordering the list): the score of the
      document at final rank ``r`` is ``1 / r``. It says nothing across queries, so
      ``score_threshold`` is refused (use ``top_n``).
    """

    PROBABILITY = "probability"
    LOGIT = "logit"
    SIMILARITY = "similarity"
    RELEVANCE = "relevance"
    UNBOUNDED = "unbounded"
    GRADE = "grade"
    RANK = "rank"


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One reranked candidate.

    Attributes:
        index: position of the candidate in the input list (0-based).
        score: the score the ranking is sorted by (higher is better).
        rank: position in the output (1 is the best).
        document: the candidate's text, as given.
        metadata: extra facts about this result (e.g. the raw score), copied by the
            adapters into the returned document's metadata.

    Example:
        >>> RankedItem(index=2, score=0.9, rank=1, document="Paris is in France.")
        RankedItem(index=2, score=0.9, rank=1, document='Paris is in France.', metadata={})
    """

    index: int
    score: float
    rank: int
    document: str
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __reduce__(self) -> tuple[Any, ...]:
        # A read-only mappingproxy cannot be pickled: results travel as a plain dict copy
        # (multiprocessing, disk caches).
        return (RankedItem, (self.index, self.score, self.rank, self.document, dict(self.metadata)))

    def __repr__(self) -> str:
        return (
            f"RankedItem(index={self.index}, score={self.score!r}, rank={self.rank}, "
            f"document={self.document!r}, metadata={dict(self.metadata)!r})"
        )


@dataclass(frozen=True, slots=True)
class TokenWindow:
    """How much text a backend's model reads per input, for ``long_docs`` handling.

    A backend returns one from :meth:`Reranker.token_window` when it knows its window.

    Attributes:
        max_tokens: tokens the model reads per input, special tokens included.
        tokenizer: a Hugging Face tokenizer (a fast one gives character offsets), or ``None``
            to count whitespace-separated words.
        pair_with_query: the query shares the window with the document (cross-encoders).
        reserved: special tokens the model adds ([CLS], [SEP], ...).
        lock: held while the tokenizer runs (fast tokenizers are not thread-safe).

    Example:
        >>> TokenWindow(max_tokens=512).reserved
        2
    """

    max_tokens: int
    tokenizer: Any = None
    pair_with_query: bool = False
    reserved: int = 2
    lock: Any = None


@runtime_checkable
class Scorer(Protocol):
    """What the ranking controls (:mod:`rag_rerankers.controls`) need from a reranker.

    :class:`rag_rerankers.Reranker` implements it; the controls depend on this protocol, not on
    the base class, so the base class can build on the controls without an import cycle.
    """

    backend: str
    model: str | None
    score_type: ScoreType
    independent_scores: bool
    supports_partial_scores: bool

    @property
    def name(self) -> str: ...

    @property
    def ranking_setup(self) -> Any: ...

    def token_window(self) -> TokenWindow | None: ...

    def _score(self, query: str, documents: Sequence[str]) -> Sequence[float]: ...

    async def _ascore(self, query: str, documents: Sequence[str]) -> Sequence[float]: ...

    def _score_top(
        self, query: str, documents: Sequence[str], top_n: int
    ) -> Sequence[tuple[int, float]]: ...

    async def _ascore_top(
        self, query: str, documents: Sequence[str], top_n: int
    ) -> Sequence[tuple[int, float]]: ...

    def _checked_scores(self, scores: Sequence[float], expected: int) -> list[float]: ...
