"""Graded relevance judgements (0-3) in the style of UMBRELA, with a parser that never
assigns a grade to the wrong passage.

UMBRELA (Upadhyay et al., 2024, "UMBRELA: UMbrela is the (Open-Source Reproduction of the)
Bing RELevance Assessor") is the prompt used for the TREC RAG 2024 LLM judgements. With
``batch=1`` :class:`Grader` sends its one-passage prompt as published; with a larger batch it
sends the same instructions for several numbered passages and asks for one line per passage.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> grader = Grader(FakeListChatModel(responses=["[1] ##final score: 3\\n[2] ##final score: 0"]),
    ...                 batch=2)
    >>> grader.grade("capital of France", ["Paris is the capital of France.", "Bananas."])
    [3, 0]
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rag_rerankers.llm.chat import ChatModel, Message, Reply
from rag_rerankers.llm.text import cut_passage
from rag_rerankers.llm.usage import Usage

logger = logging.getLogger("rag_rerankers")

MAX_GRADE = 3

# UMBRELA's grade scale and its closing steps: shared by the one-passage prompt (as published)
# and the several-passage variant below.
_SCALE = (
    "0 = represent that the passage has nothing to do with the query, \n"
    "1 = represents that the passage seems related to the query but does not answer it, \n"
    "2 = represents that the passage has some answer for the query, but the answer may be a bit "
    "unclear, or hidden amongst extraneous information and \n"
    "3 = represents that the passage is dedicated to the query and contains the exact answer.\n\n"
    "Important Instruction: Assign category 1 if the passage is somewhat related to the topic but "
    "not completely, category 2 if passage presents something very important related to the "
    "entire topic but also has some extra information and category 3 if the passage only and "
    "entirely refers to the topic. If none of the above satisfies give it category 0."
)
_STEPS = (
    "Split this problem into steps:\n"
    "Consider the underlying intent of the search.\n"
    "Measure how well the content matches a likely intent of the query (M).\n"
    "Measure how trustworthy the passage is (T).\n"
    "Consider the aspects above and the relative importance of each, and decide on a final score "
    "(O). Final score must be an integer value only.\n"
    "Do not provide any code in result. "
)

UMBRELA_PROMPT = (
    "Given a query and a passage, you must provide a score on an integer scale of 0 to 3 with "
    "the following meanings:\n"
    + _SCALE + "\n\n"
    "Query: {query}\n"
    "Passage: {passage}\n\n"
    + _STEPS + "Provide each score in the format of: ##final score: score without providing any "
    "reasoning."
)
"""UMBRELA's one-passage prompt, as published (``{query}``, ``{passage}``)."""

UMBRELA_BATCH_PROMPT = (
    "Given a query and {num} passages, each indicated by a number identifier [], you must "
    "provide a score for each passage on an integer scale of 0 to 3 with the following "
    "meanings:\n"
    + _SCALE + " Judge each passage on its own.\n\n"
    "Query: {query}\n\n"
    "{passages}\n\n"
    + _STEPS + "Provide one line per passage, in the format of: [identifier] ##final score: "
    "score without providing any reasoning."
)
"""The same instructions for several passages, listed as ``[1] text``, ``[2] text``, ..."""

GRADES_SCHEMA: Mapping[str, Any] = {
    "title": "relevance_grades",
    "description": "The relevance grade (0-3) of each passage, by its identifier.",
    "type": "object",
    "properties": {
        "grades": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "description": "the passage identifier"},
                    "score": {"type": "integer", "minimum": 0, "maximum": 3},
                },
                "required": ["id", "score"],
            },
        }
    },
    "required": ["grades"],
}
"""The structured-output schema: ``{"grades": [{"id": 1, "score": 2}, ...]}``."""


def umbrela_messages(
    query: str, passages: Sequence[str], max_passage_tokens: int | None = None
) -> list[Message]:
    """The prompt for grading ``passages`` (one user message; UMBRELA as published for one).

    Example:
        >>> msgs = umbrela_messages("q", ["a b c"], max_passage_tokens=2)
        >>> msgs[0][0], "Passage: a b\\n" in msgs[0][1]
        ('user', True)
    """
    cut = [cut_passage(p, max_passage_tokens) for p in passages]
    if len(cut) == 1:
        return [("user", UMBRELA_PROMPT.format(query=query, passage=cut[0]))]
    listed = "\n".join(f"[{i}] {text}" for i, text in enumerate(cut, 1))
    return [("user", UMBRELA_BATCH_PROMPT.format(num=len(cut), query=query, passages=listed))]


# ---------------------------------------------------------------------------- parsing
_MARKER = re.compile(
    r"\[\s*(\d+)\s*\]|\b(?:passage|id|identifier|doc(?:ument)?)\s*#?\s*(\d+)\b", re.IGNORECASE
)
_FINAL = re.compile(r"final\s*score\s*[:=]?\s*\**\s*(-?\d+)", re.IGNORECASE)
_SCORE = re.compile(r"\b(?:score|grade|relevance|category)\s*[:=]?\s*\**\s*(-?\d+)", re.IGNORECASE)
_BARE = re.compile(r"^\s*[:=\-–]?\s*\**\s*(-?\d+)\s*\**\s*(?:/\s*3)?\s*[.,;]?\s*$")


def _grade(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_GRADE:
        return value
    return None


def _json_in(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith("```"):  # a fenced block
        stripped = stripped.strip("`")
        stripped = stripped[stripped.find("\n") + 1 :] if "\n" in stripped else stripped
    for candidate in (stripped, _span(stripped, "{", "}"), _span(stripped, "[", "]")):
        if candidate:
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    return None


def _span(text: str, start: str, end: str) -> str | None:
    i, j = text.find(start), text.rfind(end)
    return text[i : j + 1] if 0 <= i < j else None


def _from_json(data: Any, grades: list[int | None]) -> None:
    n = len(grades)

    def put(ident: Any, value: Any) -> None:
        if isinstance(ident, bool):
            return
        try:
            i = int(str(ident).strip().strip("[]")) - 1
        except ValueError:
            return
        g = _grade(value)
        if 0 <= i < n and g is not None and grades[i] is None:
            grades[i] = g

    if isinstance(data, Mapping):
        for key in ("grades", "scores", "results", "judgements", "judgments"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            if n == 1 and any(k in data for k in ("score", "grade", "final_score")):
                put(1, next(data[k] for k in ("score", "grade", "final_score") if k in data))
                return
            for key, value in data.items():
                put(key, value)
            return
    if isinstance(data, list):
        for entry in data:
            if isinstance(entry, Mapping):
                ident = next(
                    (entry[k] for k in ("id", "passage", "identifier", "index") if k in entry), None
                )
                value = next(
                    (
                        entry[k]
                        for k in ("score", "grade", "relevance", "final_score")
                        if k in entry
                    ),
                    None,
                )
                if ident is not None:
                    put(ident, value)


def _from_segment(segment: str) -> int | None:
    for pattern in (_FINAL, _SCORE):
        found = pattern.search(segment)
        if found:
            return _grade(found.group(1))
    found = _BARE.match(segment)
    return _grade(found.group(1)) if found else None


def parse_grades(answer: str | None, n: int, parsed: Any = None) -> list[int | None]:
    """Read one grade (0-3) per passage from a model's answer; ``None`` where the answer
    gives no usable grade for that passage.

    Accepts ``[2] ##final score: 3`` lines (UMBRELA's format), ``Passage 2: 3``, a bare
    ``##final score: 3`` for one passage, and JSON (``{"grades": [{"id": 2, "score": 3}]}``,
    ``{"2": 3}``); ``parsed`` is a structured-output dict, read first. Identifiers are
    1-based; out-of-range identifiers and grades outside 0-3 are ignored, and a repeated
    identifier keeps its first grade, so a grade never lands on the wrong passage.

    Example:
        >>> parse_grades("[2] ##final score: 3\\n[1] ##final score: 1\\n[2] ##final score: 0", 3)
        [1, 3, None]
        >>> parse_grades('{"grades": [{"id": 1, "score": 2}, {"id": 9, "score": 3}]}', 2)
        [2, None]
        >>> parse_grades("I cannot help with that.", 2)
        [None, None]
    """
    grades: list[int | None] = [None] * n
    if n == 0:
        return grades
    if parsed is not None:
        _from_json(parsed, grades)
        if any(g is not None for g in grades):
            return grades
    text = answer or ""
    data = _json_in(text)
    if isinstance(data, (Mapping, list)):
        _from_json(data, grades)
        if any(g is not None for g in grades):
            return grades
    markers = list(_MARKER.finditer(text))
    for k, marker in enumerate(markers):
        ident = int(marker.group(1) or marker.group(2)) - 1
        end = markers[k + 1].start() if k + 1 < len(markers) else len(text)
        segment = text[marker.end() : end]
        if 0 <= ident < n and grades[ident] is None:
            grades[ident] = _from_segment(segment)
    if not markers:
        finals = _FINAL.findall(text)
        if len(finals) == n:  # one "##final score" line per passage, in order
            return [_grade(g) for g in finals]
        if n == 1:
            grades[0] = _from_segment(text)
    return grades


# ---------------------------------------------------------------------------- grading
@dataclass(frozen=True, slots=True)
class Grades:
    """Grades of a list of passages (``None``: the model gave none) and the calls' usage."""

    grades: list[int | None]
    usage: Usage
    answers: list[str]


class Grader:
    """Grade passages 0-3 for a query with a chat model, ``batch`` passages per call and at
    most ``concurrency`` calls at a time.

    Args:
        model: a LangChain chat model, a LlamaIndex LLM, a ``"provider:model"`` string or a
            :class:`~rag_rerankers.llm.chat.ChatModel`.
        batch: passages per call (1 sends UMBRELA's prompt as published).
        concurrency: calls in flight at once (threads for :meth:`grade`, tasks for
            :meth:`agrade`).
        max_passage_tokens: passages are cut to this many words (``None``: whole).
        structured: ``"auto"`` (or ``True``) asks for structured output when the model
            supports it (LangChain's ``with_structured_output``) and parses text otherwise;
            ``False`` always parses text.

    A passage whose grade the answer does not give is ``None`` (and logged as a warning that
    quotes the start of the answer); callers decide what that means.
    """

    def __init__(
        self,
        model: Any,
        *,
        batch: int = 1,
        concurrency: int = 4,
        max_passage_tokens: int | None = 300,
        structured: bool | str = "auto",
    ) -> None:
        for name, value in (("batch", batch), ("concurrency", concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.model = ChatModel.of(model)
        self.batch = batch
        self.concurrency = concurrency
        self.max_passage_tokens = max_passage_tokens
        self.structured = structured not in (False, "false", "no", "off")

    def _batches(self, passages: Sequence[str]) -> list[range]:
        return [
            range(i, min(i + self.batch, len(passages)))
            for i in range(0, len(passages), self.batch)
        ]

    def _read(self, reply: Reply, n: int) -> list[int | None]:
        grades = parse_grades(reply.text, n, reply.parsed)
        if any(g is None for g in grades):
            logger.warning(
                "LLM %r gave no usable grade for %d of %d passages; answer starts: %r",
                self.model.name,
                sum(g is None for g in grades),
                n,
                reply.text[:120],
            )
        return grades

    def _call(self, query: str, passages: Sequence[str]) -> Reply:
        messages = umbrela_messages(query, passages, self.max_passage_tokens)
        if self.structured:
            return self.model.structured(messages, GRADES_SCHEMA)
        return self.model.chat(messages)

    async def _acall(self, query: str, passages: Sequence[str]) -> Reply:
        messages = umbrela_messages(query, passages, self.max_passage_tokens)
        if self.structured:
            return await self.model.astructured(messages, GRADES_SCHEMA)
        return await self.model.achat(messages)

    def grade_with_usage(self, query: str, passages: Sequence[str]) -> Grades:
        """Grades, usage and raw answers (batches run in up to ``concurrency`` threads)."""
        batches = self._batches(passages)
        if not batches:
            return Grades([], Usage(), [])
        chunks = [[passages[i] for i in b] for b in batches]
        if len(chunks) == 1 or self.concurrency == 1:
            replies = [self._call(query, chunk) for chunk in chunks]
        else:
            # each worker runs in a copy of this context, so track_usage() sees its calls
            context = contextvars.copy_context()
            with ThreadPoolExecutor(min(self.concurrency, len(chunks))) as pool:
                replies = list(pool.map(lambda c: context.copy().run(self._call, query, c), chunks))
        return self._collect(replies, chunks)

    async def agrade_with_usage(self, query: str, passages: Sequence[str]) -> Grades:
        """Async :meth:`grade_with_usage`: batches run concurrently, at most ``concurrency``
        at a time (the first failure cancels the rest)."""
        batches = self._batches(passages)
        if not batches:
            return Grades([], Usage(), [])
        chunks = [[passages[i] for i in b] for b in batches]
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(chunk: list[str]) -> Reply:
            async with semaphore:
                return await self._acall(query, chunk)

        tasks = [asyncio.ensure_future(one(c)) for c in chunks]
        try:
            replies = list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return self._collect(replies, chunks)

    def _collect(self, replies: list[Reply], chunks: list[list[str]]) -> Grades:
        grades: list[int | None] = []
        usage = Usage()
        for reply, chunk in zip(replies, chunks, strict=True):
            grades.extend(self._read(reply, len(chunk)))
            usage = usage + reply.usage
        return Grades(grades, usage, [r.text for r in replies])

    def grade(self, query: str, passages: Sequence[str]) -> list[int | None]:
        """One grade (0-3, or ``None``) per passage, aligned with ``passages``."""
        return self.grade_with_usage(query, passages).grades

    async def agrade(self, query: str, passages: Sequence[str]) -> list[int | None]:
        """Async :meth:`grade`."""
        return (await self.agrade_with_usage(query, passages)).grades
