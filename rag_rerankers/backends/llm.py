"""``llm``: a chat model as the reranker, listwise (RankGPT) or pointwise (UMBRELA grades).

The model part is a LangChain ``provider:model`` built with ``init_chat_model``
(``llm:openai:gpt-4.1-mini``, ``llm:ollama:qwen3:8b``), or pass a ready model as ``llm=``: a
LangChain ``BaseChatModel`` or a LlamaIndex ``LLM`` (``Settings.llm``).

- ``mode=listwise`` (default): RankGPT's permutation generation with a sliding window from
  the bottom of the list to the top (``window`` 20, ``step`` 10): each window's best
  ``window - step`` documents move up into the next window, so one pass brings the best
  documents to the top. The score of the document at final rank ``r`` is ``1 / r``
  (:attr:`~rag_rerankers.types.ScoreType.RANK`: an order, not a relevance;
  ``score_threshold`` is refused).
- ``mode=pointwise``: every document gets a 0-3 grade (UMBRELA's scale), ``batch`` documents
  per call, ``concurrency`` calls at a time; scores are the grades
  (:attr:`~rag_rerankers.types.ScoreType.GRADE`, normalized to ``grade / 3``).

No answer, however malformed, loses or repeats a document: unknown and repeated identifiers
are ignored, documents an answer leaves out keep their input order after the ranked ones, and
an answer with nothing usable keeps the window's order (a warning quotes its start). A document
the model gives no grade counts as grade 0. A failed call raises
:class:`~rag_rerankers.errors.LLMCallError`, so fallback chains and ``on_error`` apply.

Each call's token usage is counted: :attr:`LLMReranker.usage` (every call so far) and
:func:`rag_rerankers.llm.track_usage` (the calls inside a block; the evaluation reports it per
query).

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from rag_rerankers import init_reranker
    >>> rr = init_reranker("llm", llm=FakeListChatModel(responses=["[3] > [1]"]))
    >>> [(item.index, item.score) for item in rr.rank("q", ["a", "b", "c"])]
    [(2, 1.0), (0, 0.5), (1, 0.3333333333333333)]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rag_rerankers.base import Reranker
from rag_rerankers.errors import ConfigError
from rag_rerankers.llm.chat import ChatModel, Reply
from rag_rerankers.llm.grading import Grader
from rag_rerankers.llm.permutation import permutation_ids, rankgpt_messages
from rag_rerankers.llm.usage import Usage
from rag_rerankers.options import Option
from rag_rerankers.registry import BackendInfo
from rag_rerankers.types import ScoreType

logger = logging.getLogger("rag_rerankers")

MODES = ("listwise", "pointwise")


def sliding_windows(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each window, from the bottom of ``n`` documents to the top.

    Unlike RankGPT's reference loop, the last window always starts at 0, so the top
    documents are ranked even when ``n - window`` is not a multiple of ``step``.

    Example:
        >>> sliding_windows(100, 20, 10)[:2], len(sliding_windows(100, 20, 10))
        ([(80, 100), (70, 90)], 9)
        >>> sliding_windows(25, 20, 10)
        [(5, 25), (0, 15)]
        >>> sliding_windows(7, 20, 10)
        [(0, 7)]
    """
    end, start = n, max(0, n - window)
    out = [(start, end)]
    while start > 0:
        end, start = end - step, max(0, start - step)
        out.append((start, end))
    return out


class LLMReranker(Reranker):
    """Rerank with a chat model. Options: ``llm``, ``mode``, ``window``, ``step``,
    ``max_passage_tokens``, ``batch``, ``concurrency``, ``structured``, ``temperature``,
    ``input_price``, ``output_price``."""

    backend = "llm"
    kind = "llm"  # a chat model (hosted or local): calls are billed or slow, never warmed up
    default_model = None
    score_type = ScoreType.RANK  # pointwise instances say GRADE
    independent_scores = False  # listwise: a document's rank depends on the others
    options = (
        Option(
            "llm",
            "object",
            None,
            "A ready chat model instead of 'provider:model': a LangChain BaseChatModel or a "
            "LlamaIndex LLM (e.g. Settings.llm).",
        ),
        Option(
            "mode",
            "str",
            "listwise",
            "'listwise' (RankGPT sliding window) or 'pointwise' (a 0-3 grade per document).",
            nullable=False,
            choices=MODES,
        ),
        Option("window", "int", 20, "listwise: documents per prompt.", nullable=False),
        Option(
            "step", "int", 10, "listwise: how far the window moves up each time.", nullable=False
        ),
        Option(
            "max_passage_tokens",
            "int",
            300,
            "Words of each document shown to the model (None: the whole document).",
        ),
        Option("batch", "int", 10, "pointwise: documents graded per call.", nullable=False),
        Option(
            "concurrency",
            "int",
            4,
            "pointwise: calls in flight at once, per query.",
            nullable=False,
        ),
        Option(
            "structured",
            "bool",
            True,
            "pointwise: ask for structured output when the model supports it (else parse "
            "the text).",
            nullable=False,
        ),
        Option(
            "temperature",
            "float",
            0.0,
            "Sampling temperature of a model built from 'provider:model' (None: the "
            "provider's default).",
        ),
        Option(
            "input_price",
            "float",
            None,
            "USD per million input tokens, for cost reports (default: the pricing table).",
        ),
        Option(
            "output_price",
            "float",
            None,
            "USD per million output tokens, for cost reports (default: the pricing table).",
        ),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        top_n: int | None = None,
        llm: Any = None,
        mode: str = "listwise",
        window: int = 20,
        step: int = 10,
        max_passage_tokens: int | None = 300,
        batch: int = 10,
        concurrency: int = 4,
        structured: bool = True,
        temperature: float | None = 0.0,
        input_price: float | None = None,
        output_price: float | None = None,
    ) -> None:
        if isinstance(llm, str):  # "llm?llm=openai:gpt-4.1-mini" reads as the model part
            llm, model = None, model or llm
        if llm is not None and model is not None:
            raise ConfigError(
                "give the llm backend either a 'provider:model' or llm=<model>, not both"
            )
        if llm is None and model is None:
            raise ConfigError(
                "the llm backend needs a chat model: write 'llm:provider:model' (e.g. "
                "'llm:openai:gpt-4.1-mini', 'llm:ollama:qwen3:8b') or pass llm=<a LangChain chat "
                "model or LlamaIndex LLM>"
            )
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {mode!r}")
        _at_least("window", window, 2)
        _at_least("step", step, 1)
        if step >= window:
            raise ConfigError(
                f"step ({step}) must be smaller than window ({window}): windows must overlap "
                "for a good document to move up past the window it started in"
            )
        if max_passage_tokens is not None:
            _at_least("max_passage_tokens", max_passage_tokens, 1)
        _at_least("batch", batch, 1)
        _at_least("concurrency", concurrency, 1)
        for name, price in (("input_price", input_price), ("output_price", output_price)):
            if price is not None and price < 0:
                raise ConfigError(f"{name} must be >= 0 (USD per million tokens), got {price}")
        if llm is not None:
            self.chat_model = ChatModel.of(llm)
        else:
            kwargs = {} if temperature is None else {"temperature": temperature}
            self.chat_model = ChatModel.of(model, **kwargs)
        super().__init__(model=model if model is not None else self.chat_model.name, top_n=top_n)
        self.mode = mode
        self.window = window
        self.step = step
        self.max_passage_tokens = max_passage_tokens
        self.batch = batch
        self.concurrency = concurrency
        self.structured = structured
        self.temperature = temperature
        self.input_price = input_price
        self.output_price = output_price
        if mode == "pointwise":
            self.score_type = ScoreType.GRADE  # type: ignore[misc]
            self.independent_scores = True  # type: ignore[misc]
            self._grader = Grader(
                self.chat_model,
                batch=batch,
                concurrency=concurrency,
                max_passage_tokens=max_passage_tokens,
                structured=structured,
            )

    @property
    def usage(self) -> Usage:
        """Every LLM call of this reranker so far (calls, input and output tokens)."""
        return self.chat_model.usage.total

    # ------------------------------------------------------------------ listwise
    def _window_messages(
        self, query: str, docs: Sequence[str], idx: list[int]
    ) -> list[tuple[str, str]]:
        return rankgpt_messages(query, [docs[i] for i in idx], self.max_passage_tokens)

    def _reorder(self, reply: Reply, idx: list[int], start: int, end: int) -> list[int]:
        ranked = permutation_ids(reply.text, len(idx))
        if not ranked:
            logger.warning(
                "LLM %r gave no usable ranking for documents %d-%d; they keep their order. "
                "Answer starts: %r",
                self.chat_model.name,
                start,
                end - 1,
                reply.text[:120],
            )
        chosen = set(ranked)
        return [idx[p] for p in ranked] + [i for p, i in enumerate(idx) if p not in chosen]

    def _order_scores(self, order: list[int]) -> list[float]:
        scores = [0.0] * len(order)
        for rank, i in enumerate(order, 1):
            scores[i] = 1.0 / rank
        return scores

    def _listwise(self, query: str, docs: Sequence[str]) -> list[float]:
        order = list(range(len(docs)))
        for start, end in sliding_windows(len(docs), self.window, self.step):
            idx = order[start:end]
            reply = self.chat_model.chat(self._window_messages(query, docs, idx))
            order[start:end] = self._reorder(reply, idx, start, end)
        return self._order_scores(order)

    async def _alistwise(self, query: str, docs: Sequence[str]) -> list[float]:
        order = list(range(len(docs)))
        # windows depend on each other (the best of one move into the next): in order
        for start, end in sliding_windows(len(docs), self.window, self.step):
            idx = order[start:end]
            reply = await self.chat_model.achat(self._window_messages(query, docs, idx))
            order[start:end] = self._reorder(reply, idx, start, end)
        return self._order_scores(order)

    # ------------------------------------------------------------------ scoring
    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        if self.mode == "pointwise":
            grades = self._grader.grade(query, documents)
            return [0.0 if g is None else float(g) for g in grades]
        return self._listwise(query, documents)

    async def _ascore(self, query: str, documents: Sequence[str]) -> list[float]:
        if self.mode == "pointwise":
            grades = await self._grader.agrade(query, documents)
            return [0.0 if g is None else float(g) for g in grades]
        return await self._alistwise(query, documents)

    def __repr__(self) -> str:
        return f"LLMReranker(model={self.model!r}, mode={self.mode!r}, top_n={self.top_n!r})"


def _at_least(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


BACKEND = BackendInfo(
    LLMReranker,
    "A chat model as the reranker: listwise (RankGPT sliding window) or pointwise (0-3 "
    "grades); any LangChain provider:model or a LangChain/LlamaIndex model object.",
    docs_url="https://arxiv.org/abs/2304.09542",
    example="llm:openai:gpt-4.1-mini?mode=pointwise&top_n=5",
)
