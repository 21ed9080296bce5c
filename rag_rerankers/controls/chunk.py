"""Long documents: cut to one window (``truncate``) or split into overlapping windows (``chunk``).

Windows are counted in the model's tokens when the backend exposes a fast tokenizer through
:meth:`~rag_rerankers.Reranker.token_window`, else in whitespace-separated words. Each window is
a character span of the original content, so the best window can be reported.

Example:
    >>> text = "one two three four five six seven"
    >>> [text[s:e] for s, e in windows(text, size=3, overlap=1)]
    ['one two three', 'three four five', 'five six seven']
    >>> pool([0.2, 0.9, 0.4], "max"), pool([0.2, 0.9, 0.4], "first")
    ((0.9, 1), (0.2, 0))
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from typing import Any

from rag_rerankers.types import TokenWindow

POOLING_MODES = ("max", "mean", "first")
LONG_DOCS_MODES = ("truncate", "chunk")
_WORD = re.compile(r"\S+")

Span = tuple[int, int]


def token_offsets(text: str, tokenizer: Any = None, lock: Any = None) -> list[Span]:
    """Character span of each token of ``text`` (words when no fast tokenizer is given)."""
    if tokenizer is not None:
        try:
            with lock if lock is not None else contextlib.nullcontext():
                encoded = tokenizer(
                    text,
                    add_special_tokens=False,
                    return_offsets_mapping=True,
                    truncation=False,
                    verbose=False,
                )
            return [(int(s), int(e)) for s, e in encoded["offset_mapping"] if e > s]
        except (NotImplementedError, KeyError, TypeError, ValueError):
            pass  # a slow tokenizer has no offsets: count words instead
    return [m.span() for m in _WORD.finditer(text)]


def count_tokens(text: str, tokenizer: Any = None, lock: Any = None) -> int:
    """Number of tokens (or words) in ``text``."""
    return len(token_offsets(text, tokenizer, lock)) if text else 0


def windows(
    text: str, size: int, overlap: int, tokenizer: Any = None, lock: Any = None
) -> list[Span]:
    """Overlapping windows of ``size`` tokens, ``overlap`` tokens shared by neighbours.

    A text that fits returns one span covering all of it.
    """
    offsets = token_offsets(text, tokenizer, lock)
    if len(offsets) <= size:
        return [(0, len(text))]
    step = max(1, size - overlap)
    spans = []
    for start in range(0, len(offsets), step):
        end = min(start + size, len(offsets))
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end == len(offsets):
            break
    return spans


def budget(
    window: TokenWindow | None,
    chunk_size: int | None,
    query: str,
    extra_text: str,
) -> int | None:
    """Tokens of document content per window: ``chunk_size`` if given, else what the model's
    window leaves after special tokens, the query (cross-encoders) and the ``rank_fields`` text.
    ``None``: no limit known.
    """
    if chunk_size is not None:
        return chunk_size
    if window is None:
        return None
    used = window.reserved + count_tokens(extra_text, window.tokenizer, window.lock)
    if window.pair_with_query:
        used += count_tokens(query, window.tokenizer, window.lock) + 1
    return max(8, window.max_tokens - used)


def pool(scores: Sequence[float], mode: str) -> tuple[float, int]:
    """``(document score, index of the window reported as best)``; NaN windows are ignored."""
    if mode == "first" or len(scores) == 1:
        return scores[0], 0
    finite = [(s, i) for i, s in enumerate(scores) if not math.isnan(s)]
    if not finite:
        return math.nan, 0
    best_score, best = max(finite, key=lambda si: (si[0], -si[1]))
    if mode == "max":
        return best_score, best
    if mode == "mean":
        return sum(s for s, _ in finite) / len(finite), best
    raise ValueError(f"unknown pooling {mode!r}; valid: {', '.join(POOLING_MODES)}")
