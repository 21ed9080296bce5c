"""What the reranker reads (``rank_fields``) and duplicate detection (``dedup``).

Example:
    >>> build_header({"title": "Tyres", "year": 2020}, ("title", "year"))
    'title: Tyres\\nyear: 2020\\n'
    >>> reader_parts("Patch the tube.", {"title": "Tyres"}, "{title}. {content}")
    ('Tyres. ', '')
    >>> group_duplicates(["a  b", "c", "a b"])
    [0, 1, 0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEDUP_MODES = ("keep", "collapse")

CONTENT = "content"
"""The name of the document text in ``rank_fields`` lists and templates."""


class _Blank(dict):  # type: ignore[type-arg]
    """Format values where a missing field reads as empty text."""

    def __missing__(self, key: str) -> str:
        return ""


def build_header(metadata: Mapping[str, Any] | None, fields: Sequence[str]) -> str:
    """``"field: value"`` lines for the fields present in ``metadata`` (``content`` skipped)."""
    meta = metadata or {}
    lines = [
        f"{name}: {meta[name]}" for name in fields if name != CONTENT and meta.get(name) is not None
    ]
    return "".join(line + "\n" for line in lines)


def split_template(template: str) -> tuple[str, str]:
    """Split a template at ``{content}``: the parts before and after it."""
    marker = "{" + CONTENT + "}"
    if template.count(marker) != 1:
        raise ValueError(f"a rank_fields template must contain {marker} exactly once")
    before, _, after = template.partition(marker)
    return before, after


def reader_parts(
    content: str, metadata: Mapping[str, Any] | None, rank_fields: str | tuple[str, ...] | None
) -> tuple[str, str]:
    """``(prefix, suffix)`` put around the content (or a window of it) for the reranker."""
    if rank_fields is None:
        return "", ""
    if isinstance(rank_fields, str):
        before, after = split_template(rank_fields)
        values = _Blank(metadata or {})
        return before.format_map(values), after.format_map(values)
    return build_header(metadata, rank_fields), ""


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace and strip the ends (what ``dedup`` compares)."""
    return " ".join(text.split())


def group_duplicates(texts: Sequence[str]) -> list[int]:
    """For each text, the index of its first whitespace-normalized duplicate (itself if unique)."""
    first: dict[str, int] = {}
    return [first.setdefault(normalize_whitespace(t), i) for i, t in enumerate(texts)]
