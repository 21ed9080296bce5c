"""Token usage of LLM calls: one record per call, added up per query or per run."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Calls made to a chat model and the tokens they used.

    Attributes:
        calls: model calls (one per prompt sent).
        input_tokens: prompt tokens, as the model reported them.
        output_tokens: answer tokens, as the model reported them.
        unreported_calls: calls whose answer carried no token counts (a fake model, a
            provider that does not report usage); their tokens are not in the totals.

    Records add up, so a query's usage is the sum of its calls'.

    Example:
        >>> Usage(1, 120, 8) + Usage(1, 100, 6)
        Usage(calls=2, input_tokens=220, output_tokens=14, unreported_calls=0)
        >>> sum([Usage(1, 5, 1), Usage(1, 0, 0, 1)], Usage())
        Usage(calls=2, input_tokens=5, output_tokens=1, unreported_calls=1)
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    unreported_calls: int = 0

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        """``{"llm_calls", "input_tokens", "output_tokens"}`` (plus ``unreported_calls`` when
        any call reported no usage), the keys reported per query.

        Example:
            >>> Usage(2, 30, 4).as_dict()
            {'llm_calls': 2, 'input_tokens': 30, 'output_tokens': 4}
        """
        out = {
            "llm_calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.unreported_calls:
            out["unreported_calls"] = self.unreported_calls
        return out

    @classmethod
    def from_counts(cls, input_tokens: Any, output_tokens: Any) -> Usage:
        """One call's usage from two counts; ``None`` counts make it an unreported call.

        Example:
            >>> Usage.from_counts(10, 2)
            Usage(calls=1, input_tokens=10, output_tokens=2, unreported_calls=0)
            >>> Usage.from_counts(None, None).unreported_calls
            1
        """
        if input_tokens is None and output_tokens is None:
            return cls(calls=1, unreported_calls=1)
        return cls(
            calls=1, input_tokens=int(input_tokens or 0), output_tokens=int(output_tokens or 0)
        )


def usage_from_mapping(data: Mapping[str, Any] | None) -> Usage | None:
    """Read token counts from a usage mapping in any of the common shapes
    (``input_tokens``/``output_tokens``: LangChain, Anthropic; ``prompt_tokens``/
    ``completion_tokens``: OpenAI; ``prompt_eval_count``/``eval_count``: Ollama).

    Example:
        >>> usage_from_mapping({"prompt_tokens": 12, "completion_tokens": 3})
        Usage(calls=1, input_tokens=12, output_tokens=3, unreported_calls=0)
        >>> usage_from_mapping({"other": 1}) is None
        True
    """
    if not data:
        return None
    for inp, out in (
        ("input_tokens", "output_tokens"),
        ("prompt_tokens", "completion_tokens"),
        ("prompt_eval_count", "eval_count"),
    ):
        if data.get(inp) is not None or data.get(out) is not None:
            return Usage.from_counts(data.get(inp), data.get(out))
    return None


class UsageMeter:
    """A thread-safe running total of :class:`Usage` (calls from several threads or tasks).

    Example:
        >>> meter = UsageMeter()
        >>> meter.add(Usage(1, 10, 2)); meter.add(Usage(1, 5, 1))
        >>> meter.total
        Usage(calls=2, input_tokens=15, output_tokens=3, unreported_calls=0)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage

    @property
    def total(self) -> Usage:
        with self._lock:
            return self._total

    def reset(self) -> Usage:
        """Return the total so far and start again from zero."""
        with self._lock:
            total, self._total = self._total, Usage()
            return total


_TRACKERS: ContextVar[tuple[UsageMeter, ...]] = ContextVar("rag_rerankers_llm_usage", default=())


@contextmanager
def track_usage() -> Iterator[UsageMeter]:
    """Count the LLM calls made inside the ``with`` block (in this thread or task, and in the
    threads and tasks it starts), whichever model or reranker makes them.

    Blocks nest: an inner block's calls count in the outer one too. This is how the
    evaluation reports usage per query, even when queries run concurrently.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> from rag_rerankers.llm import ChatModel
        >>> model = ChatModel.of(FakeListChatModel(responses=["a", "b"]))
        >>> with track_usage() as meter:
        ...     _ = model.complete(None, "one"); _ = model.complete(None, "two")
        >>> meter.total.calls
        2
    """
    meter = UsageMeter()
    token = _TRACKERS.set((*_TRACKERS.get(), meter))
    try:
        yield meter
    finally:
        _TRACKERS.reset(token)


def record_usage(usage: Usage) -> None:
    """Add one call's usage to every :func:`track_usage` block active here."""
    for meter in _TRACKERS.get():
        meter.add(usage)
