"""Fake rerankers shared by several test areas (import them as ``from fakes import ...``).

- :class:`OverlapReranker`: scores by query-word overlap; records the documents it received
  (what reached the backend) and counts its calls, sync and async;
- :class:`FixedReranker`: returns the scores it was given (ties, NaN, wrong lengths, any score
  type).

Helpers used by one area only live in that area's folder (``<area>/helpers.py``), its fixtures
in ``<area>/conftest.py``, and fixtures shared by areas in ``tests/conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

from rag_rerankers.base import Reranker
from rag_rerankers.types import ScoreType

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


class OverlapReranker(Reranker):
    """Scores each document by the number of distinct query words in it (independent per
    document), and records what reached it:

    - ``received``: the documents of every scoring call, in order;
    - ``calls`` / ``acalls``: how many times it scored / was called async (an async call counts
      in both: it scores through the sync path).

    ``score_type`` can be set per instance (default: unbounded). The counters are properties
    and ``received`` a list, so the result cache's identity (public attributes of simple types)
    does not change from call to call.
    """

    backend: ClassVar[str] = "overlap"
    score_type: ClassVar[ScoreType] = ScoreType.UNBOUNDED

    def __init__(self, *, top_n: int | None = None, score_type: ScoreType | None = None) -> None:
        super().__init__(model=None, top_n=top_n)
        if score_type is not None:
            self.score_type = score_type  # type: ignore[misc]
        self.received: list[list[str]] = []
        self._acalls = 0

    @property
    def calls(self) -> int:
        return len(self.received)

    @property
    def acalls(self) -> int:
        return self._acalls

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.received.append(list(documents))
        words = _words(query)
        return [float(len(words & _words(d))) for d in documents]

    async def _ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        self._acalls += 1
        return self._score(query, documents)


class FixedReranker(Reranker):
    """Returns the scores it was given, with any score type (default: the base's, unbounded).

    ``scores`` is either a sequence, returned as is whatever the documents (to test ties, NaN
    and wrong lengths), or a mapping from document text to score (aligned with the documents).
    """

    backend: ClassVar[str] = "fixed"

    def __init__(
        self,
        scores: Sequence[float] | Mapping[str, float],
        score_type: ScoreType | None = None,
        *,
        top_n: int | None = None,
    ) -> None:
        super().__init__(model=None, top_n=top_n)
        self.scores: list[float] | dict[str, float] = (
            dict(scores) if isinstance(scores, Mapping) else list(scores)
        )
        if score_type is not None:
            self.score_type = score_type  # type: ignore[misc]

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        if isinstance(self.scores, dict):
            return [self.scores[d] for d in documents]
        return self.scores
