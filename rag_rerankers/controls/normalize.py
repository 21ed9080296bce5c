"""Score normalization: make scores of different backends comparable.

``auto`` (the default) uses what each backend declares about its scores
(:class:`~rag_rerankers.types.ScoreType`):

========== ====================================== ==========================
score type example                                 ``auto`` maps it to
========== ====================================== ==========================
logit      cross-encoder logits                   ``sigmoid(s)`` in [0, 1]
probability cross-encoder with a sigmoid head     ``s`` (kept)
relevance  Cohere / Voyage / Jina 0-1 scores      ``s`` (kept)
similarity cosine similarity in [-1, 1]           ``(s + 1) / 2`` in [0, 1]
unbounded  BM25                                   ``s`` (kept: no fixed scale)
grade      an LLM's 0-3 relevance label            ``s / 3`` in [0, 1]
rank       an LLM's order: ``1 / rank``            ``s`` (kept)
========== ====================================== ==========================

``none`` keeps raw scores, ``sigmoid`` applies a sigmoid to any score and ``minmax`` rescales
each result list to [0, 1] (never the default: the best candidate always gets 1.0, so a
threshold no longer means anything).

Example:
    >>> from rag_rerankers.types import ScoreType
    >>> normalize_scores([0.0, 2.0], ScoreType.LOGIT, "auto")
    [0.5, 0.8807970779778823]
    >>> normalize_scores([-1.0, 0.5], ScoreType.SIMILARITY, "auto")
    [0.0, 0.75]
    >>> normalize_scores([3.0, 5.0, 4.0], ScoreType.UNBOUNDED, "minmax")
    [0.0, 1.0, 0.5]
    >>> normalize_scores([3.0, 0.0], ScoreType.GRADE, "auto")
    [1.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rag_rerankers.types import ScoreType

NORMALIZE_MODES = ("auto", "none", "sigmoid", "minmax")


def sigmoid(x: float) -> float:
    """A numerically stable logistic function (NaN stays NaN)."""
    if math.isnan(x):
        return x
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _similarity(x: float) -> float:
    # Cosine similarity is in [-1, 1]; the linear map keeps the order and the spacing.
    return x if math.isnan(x) else min(1.0, max(0.0, (x + 1.0) / 2.0))


def _minmax(scores: Sequence[float]) -> list[float]:
    finite = [s for s in scores if math.isfinite(s)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)

    def one(s: float) -> float:
        if math.isnan(s):
            return s
        if math.isinf(s):  # -inf / +inf sit at the ends of the scale
            return 1.0 if s > 0 else 0.0
        if high == low:  # no information to spread: the middle
            return 0.5
        return (s - low) / (high - low)

    return [one(s) for s in scores]


def normalize_scores(scores: Sequence[float], score_type: ScoreType, mode: str) -> list[float]:
    """Map raw scores of one result list according to ``mode`` (see the module docs)."""
    values = [float(s) for s in scores]
    if mode == "none":
        return values
    if mode == "sigmoid":
        return [sigmoid(s) for s in values]
    if mode == "minmax":
        return _minmax(values)
    if mode != "auto":
        raise ValueError(f"unknown normalize mode {mode!r}; valid: {', '.join(NORMALIZE_MODES)}")
    if score_type == ScoreType.LOGIT:
        return [sigmoid(s) for s in values]
    if score_type == ScoreType.SIMILARITY:
        return [_similarity(s) for s in values]
    if score_type == ScoreType.GRADE:
        return [s if math.isnan(s) else min(1.0, max(0.0, s / 3.0)) for s in values]
    return values
