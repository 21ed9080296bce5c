"""Relevance judgements made by a judge (an LLM, or any function) for queries that have none.

:func:`pool` takes the union of the top ``depth`` documents of every compared run (the first
stage included), as TREC builds its judgement pools; :func:`judge_pool` has the judge grade each
pooled (query, passage) pair 0-3 and returns them as qrels, with counts and cost. Judgements are
cached in a JSONL file keyed by the judge, the query text and the passage text: a rerun, or a
comparison with one more reranker, pays only for pairs never graded before. A reply that is not
a grade 0-3, or a call that fails, is counted and reported, never cached (it is asked again next
time) and leaves its pair unjudged, which the metrics read as not relevant (trec_eval's rule).

Example:
    >>> from rag_rerankers.evaluation.dataset import EvalDataset
    >>> ds = EvalDataset.from_memory({"q": "apples"}, {"q": ["red apples", "blue sky"]}, {"q": {}})
    >>> judge = FunctionJudge(lambda query, passage: 3 if "apples" in passage else 0)
    >>> report = judge_pool(ds, {"q": ["0", "1"]}, judge, progress=False)
    >>> report.qrels, report.judged, report.invalid
    ({'q': {'0': 3, '1': 0}}, 2, 0)
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rag_rerankers.errors import ConfigError
from rag_rerankers.evaluation.dataset import EvalDataset

logger = logging.getLogger("rag_rerankers.evaluation")

GRADES = range(4)


@dataclass
class JudgeReply:
    """One grading: ``grade`` is 0-3, or ``None`` when the reply held no valid grade."""

    grade: int | None
    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


@runtime_checkable
class Judge(Protocol):
    """Anything that grades a (query, passage) pair: ``label`` names it in caches and reports."""

    label: str

    def judge(self, query: str, passage: str) -> JudgeReply: ...


class FunctionJudge:
    """A judge from a function ``(query, passage) -> grade`` (an int, or a reply text the
    ``parse`` function reads); tests use one whose grades come from known qrels.

    Example:
        >>> FunctionJudge(lambda q, p: "2").judge("q", "p").grade
        2
        >>> FunctionJudge(lambda q, p: "no idea").judge("q", "p").grade is None
        True
    """

    def __init__(self, fn: Callable[[str, str], Any], *, label: str | None = None,
                 parse: Callable[[str], int | None] | None = None) -> None:
        self.fn = fn
        self.label = label or f"function:{getattr(fn, '__name__', type(fn).__name__)}"
        self.parse = parse or _parse_int

    def judge(self, query: str, passage: str) -> JudgeReply:
        value = self.fn(query, passage)
        if isinstance(value, JudgeReply):
            return value
        # A function runs here: it costs nothing.
        if isinstance(value, bool):
            return JudgeReply(None, repr(value), cost_usd=0.0)
        if isinstance(value, int):
            return JudgeReply(value if value in GRADES else None, str(value), cost_usd=0.0)
        text = "" if value is None else str(value)
        return JudgeReply(self.parse(text), text, cost_usd=0.0)


def _parse_int(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() and int(stripped) in GRADES else None


def pool(rankings: Sequence[Mapping[str, Sequence[str]]], depth: int) -> dict[str, list[str]]:
    """The union of every run's top ``depth`` documents per query (first-seen order).

    Example:
        >>> pool([{"q": ["a", "b", "c"]}, {"q": ["c", "a", "d"]}], depth=2)
        {'q': ['a', 'b', 'c']}
    """
    if depth < 1:
        raise ConfigError(f"the judging depth must be >= 1, got {depth}")
    out: dict[str, list[str]] = {}
    for run in rankings:
        for qid, docs in run.items():
            seen = out.setdefault(qid, [])
            for d in docs[:depth]:
                if d not in seen:
                    seen.append(d)
    return out


def pair_key(judge_label: str, query: str, passage: str) -> str:
    """The cache key of one judgement: the judge, the query text and the passage text."""
    h = hashlib.sha256()
    for part in (judge_label, query, passage):
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()[:32]


class JudgementCache:
    """Valid judgements in an append-only JSONL file (``None``: kept in memory only)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.grades: dict[str, int] = {}
        if self.path is not None and self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for n, line in enumerate(f, start=1):
                    try:
                        row = json.loads(line)
                        if row["grade"] in GRADES:
                            self.grades[row["key"]] = int(row["grade"])
                    except (json.JSONDecodeError, KeyError, TypeError):
                        logger.warning("%s:%d is not a valid judgement; ignored", self.path, n)

    def get(self, key: str) -> int | None:
        return self.grades.get(key)

    def put(self, key: str, grade: int, **record: Any) -> None:
        self.grades[key] = grade
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = self.path.exists() and self.path.stat().st_size > 0 and _ends_torn(self.path)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("\n" if torn else "") + json.dumps({"key": key, "grade": grade, **record}) + "\n")


def _ends_torn(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1) != b"\n"


@dataclass
class JudgeReport:
    """What judging cost and produced; ``qrels`` hold the valid grades only."""

    judge: str
    depth: int | None
    pairs: int = 0
    """Pooled (query, document) pairs."""
    judged: int = 0
    """Pairs graded by the judge during this run."""
    cached: int = 0
    """Pairs whose grade came from the cache (no cost)."""
    invalid: int = 0
    """Replies that held no grade 0-3 (left unjudged)."""
    failed: int = 0
    """Calls that raised (left unjudged)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    errors: list[str] = field(default_factory=list)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    @property
    def unjudged(self) -> int:
        return self.invalid + self.failed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("qrels")
        data["unjudged"] = self.unjudged
        data["errors"] = self.errors[:20]
        return data

    def summary(self) -> str:
        cost = "unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return (f"judge {self.judge}: {self.pairs} pooled pairs, {self.judged} judged now, "
                f"{self.cached} from the cache, {self.invalid} invalid and {self.failed} failed "
                f"replies (left unjudged); {self.input_tokens} input + {self.output_tokens} "
                f"output tokens, cost {cost}")


def judge_pool(
    dataset: EvalDataset,
    pooled: Mapping[str, Sequence[str]],
    judge: Judge,
    *,
    cache: JudgementCache | str | Path | None = None,
    depth: int | None = None,
    progress: bool = True,
) -> JudgeReport:
    """Grade every pooled pair (cached ones are not asked again); see the module docstring."""
    if not isinstance(cache, JudgementCache):
        cache = JudgementCache(cache)
    texts = {q: {c.docid: c.text for c in cands} for q, cands in dataset.candidates.items()}
    report = JudgeReport(judge=judge.label, depth=depth)
    todo = []
    for qid, docids in pooled.items():
        report.qrels.setdefault(qid, {})
        for d in docids:
            passage = texts.get(qid, {}).get(d)
            if passage is None:
                continue
            report.pairs += 1
            key = pair_key(judge.label, dataset.queries[qid], passage)
            grade = cache.get(key)
            if grade is not None:
                report.cached += 1
                report.qrels[qid][d] = grade
            else:
                todo.append((qid, d, passage, key))
    from tqdm.auto import tqdm

    by_query: dict[str, list[tuple[str, str, str]]] = {}
    for qid, d, passage, key in todo:
        by_query.setdefault(qid, []).append((d, passage, key))
    costs: list[float] = []
    bar = tqdm(total=len(todo), desc=f"judging ({judge.label[:30]})", unit="pair",
               disable=not progress, file=sys.stderr)
    try:
        for qid, items in by_query.items():
            query = dataset.queries[qid]
            for (d, _, key), reply in zip(items, _replies(judge, query, [p for _, p, _ in items]),
                                          strict=True):
                bar.update(1)
                if isinstance(reply, BaseException):
                    report.failed += 1
                    report.errors.append(f"{qid}/{d}: {type(reply).__name__}: {reply}")
                    continue
                report.input_tokens += reply.input_tokens
                report.output_tokens += reply.output_tokens
                if reply.cost_usd is not None:
                    costs.append(reply.cost_usd)
                if reply.grade is None or reply.grade not in GRADES:
                    report.invalid += 1
                    report.errors.append(f"{qid}/{d}: no grade 0-3 in {reply.text[:80]!r}")
                    continue
                report.judged += 1
                report.qrels[qid][d] = int(reply.grade)
                cache.put(key, int(reply.grade), judge=judge.label, qid=qid, docid=d)
    finally:
        bar.close()
    report.cost_usd = sum(costs) if costs else (0.0 if not todo else None)
    if report.unjudged:
        logger.warning("%d of %d pooled pairs have no valid grade and count as not relevant",
                       report.unjudged, report.pairs)
    return report


def _replies(judge: Judge, query: str, passages: list[str]) -> list[JudgeReply | BaseException]:
    """The judge's replies for one query's passages: all at once when it can (``judge_many``,
    concurrent calls), else, or when that fails, one by one; a failing call gives its
    exception, never raises."""
    many = getattr(judge, "judge_many", None)
    if many is not None and len(passages) > 1:
        try:
            replies = list(many(query, passages))
            if len(replies) == len(passages):
                return replies
        except Exception as exc:  # find out which pairs fail, one at a time
            logger.info("judging %d passages at once failed (%s); one by one", len(passages), exc)
    out: list[JudgeReply | BaseException] = []
    for passage in passages:
        try:
            out.append(judge.judge(query, passage))
        except Exception as exc:
            out.append(exc)
    return out


def write_trec_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | Path) -> Path:
    """Write qrels in TREC format (``qid 0 docid grade``), readable by ``--qrels``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for qid, docs in qrels.items():
            for d, g in docs.items():
                f.write(f"{qid} 0 {d} {g}\n")
    return path


class LLMJudge:
    """An LLM grading pairs 0-3 with the UMBRELA prompt of TREC RAG 2024, one passage per call
    as published (:class:`rag_rerankers.llm.Grader`), ``concurrency`` calls at a time.

    ``llm``: a ``"provider:model"`` string (built with temperature 0), a LangChain chat model
    or a LlamaIndex LLM.
    """

    def __init__(self, llm: Any, *, concurrency: int = 8, max_passage_tokens: int | None = 300) -> None:
        from rag_rerankers.llm import ChatModel, Grader

        model = ChatModel.of(llm, **({"temperature": 0} if isinstance(llm, str) else {}))
        self.grader = Grader(model, batch=1, concurrency=concurrency,
                             max_passage_tokens=max_passage_tokens, structured=False)
        self.model_name = model.model_name
        self.label = f"llm:{model.name}#umbrela"

    def _reply(self, grade: int | None, text: str, usage: Any) -> JudgeReply:
        from rag_rerankers.evaluation.pricing import llm_cost

        return JudgeReply(grade, text, usage.input_tokens, usage.output_tokens,
                          llm_cost(self.model_name, usage.input_tokens,
                                            usage.output_tokens))

    def judge(self, query: str, passage: str) -> JudgeReply:
        out = self.grader.grade_with_usage(query, [passage])
        return self._reply(out.grades[0], out.answers[0], out.usage)

    def judge_many(self, query: str, passages: Sequence[str]) -> list[JudgeReply]:
        """Every passage of one query, graded concurrently; the call's usage is shared out
        evenly over the replies (only totals are reported)."""
        from rag_rerankers.llm import Usage

        out = self.grader.grade_with_usage(query, passages)
        n = len(passages)
        each = [Usage(calls=1, input_tokens=out.usage.input_tokens // n + (i < out.usage.input_tokens % n),
                      output_tokens=out.usage.output_tokens // n + (i < out.usage.output_tokens % n))
                for i in range(n)]
        return [self._reply(g, a, u) for g, a, u in zip(out.grades, out.answers, each, strict=True)]


def make_judge(judge: Any) -> Judge:
    """A :class:`Judge` from what ``compare(judge=...)`` and ``--judge`` accept: a judge, a
    function ``(query, passage) -> grade``, or an LLM (``"llm:<provider>:<model>"``, a
    LangChain chat model or a LlamaIndex LLM) graded with the UMBRELA prompt; ``"fake"``:
    :func:`~rag_rerankers.testing.fake_llm.fake_judge` (offline dry runs, word overlap)."""
    if isinstance(judge, Judge):
        return judge
    if isinstance(judge, str):
        spec = judge.strip()
        if spec == "fake":
            from rag_rerankers.testing.fake_llm import fake_judge

            logger.warning("judge 'fake': grades from word overlap, an offline stand-in")
            return FunctionJudge(fake_judge, label="fake")
        if not spec.startswith("llm:"):
            raise ConfigError(f"unknown judge {judge!r}: use 'llm:<provider>:<model>', e.g. "
                              "'llm:openai:gpt-4.1-mini'")
        return LLMJudge(spec[len("llm:"):])
    if callable(judge) and not _is_chat_model(judge):
        return FunctionJudge(judge)
    return LLMJudge(judge)


def _is_chat_model(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith(("langchain", "llama_index")) or hasattr(obj, "complete_text")
