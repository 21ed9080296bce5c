"""Passage cutting shared by the LLM prompts."""

from __future__ import annotations


def cut_passage(text: str, max_tokens: int | None) -> str:
    """Collapse whitespace and keep the first ``max_tokens`` whitespace-separated words (the
    unit RankGPT uses: no tokenizer is needed and every model's prompt gets the same text).
    ``None`` keeps the whole passage.

    Example:
        >>> cut_passage("  one two\\n three four ", 3)
        'one two three'
    """
    words = text.split()
    if max_tokens is not None:
        words = words[:max_tokens]
    return " ".join(words)
