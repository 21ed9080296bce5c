"""Helpers shared by the local (in-process model) backends.

- :func:`length_sorted_batches`: dynamic batching. Sorting pairs by token length puts
  similar lengths together, so each batch is padded only to its own longest member.
- :class:`TruncationWarner`: one warning per reranker, saying how many documents were cut.
- :func:`torch_dtype`: the ``dtype`` option as a ``torch.dtype``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from rag_rerankers.errors import ConfigError

logger = logging.getLogger("rag_rerankers")

DTYPES = ("float32", "float16", "bfloat16")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Yield batches of indices, longest first, each at most ``batch_size`` long.

    Example:
        >>> list(length_sorted_batches([3, 9, 1, 7], 2))
        [[1, 3], [0, 2]]
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class TruncationWarner:
    """Warn once (per reranker) that documents were truncated, with how many.

    Example:
        >>> w = TruncationWarner("cross-encoder:demo", 512)
        >>> w.report(0, 10)
        False
        >>> w.report(2, 10)
        True
        >>> w.report(3, 10)  # already warned
        False
    """

    def __init__(self, name: str, max_length: int, scope: str = "query + document") -> None:
        self.name = name
        self.max_length = max_length
        self.scope = scope
        self._warned = False
        self._lock = threading.Lock()

    def report(self, cut: int, total: int) -> bool:
        if cut <= 0:
            return False
        with self._lock:
            if self._warned:
                return False
            self._warned = True
        logger.warning(
            "%s: %d of %d documents were truncated to max_length=%d tokens (%s); "
            "raise max_length or split long documents to score their full text. "
            "This warning is shown once per reranker.",
            self.name,
            cut,
            total,
            self.max_length,
            self.scope,
        )
        return True


def torch_dtype(dtype: str | None) -> Any:
    """``"float16"`` -> ``torch.float16``; ``None`` -> ``None`` (the model's own dtype)."""
    if dtype is None:
        return None
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    import torch

    return getattr(torch, dtype)
