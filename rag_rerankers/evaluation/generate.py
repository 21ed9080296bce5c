"""A labelled evaluation set from your own documents: ``rag-rerankers dataset generate``.

Documents are read and chunked (:mod:`rag_rerankers.evaluation.corpus`); chunks are sampled
with a seeded random generator; an LLM writes questions that each sampled chunk answers, in
the words of someone who has not read it; every question gets its source chunk as the one
relevant passage. The output folder is a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
``qrels/test.tsv``), so ``eval``/``compare --dataset FOLDER`` use it like any other dataset
(the first stage, BM25 by default, is computed over all the chunks).

Every chunk's questions are appended to ``generation.jsonl`` as soon as they arrive, so an
interrupted run resumes where it stopped and pays for nothing twice. Token usage and a cost
estimate are in ``dataset.json`` and in the returned :class:`GenerationReport`.

Example:
    >>> import tempfile
    >>> from rag_rerankers.evaluation.corpus import Chunk
    >>> chunks = [Chunk(f"doc{i}.txt#0", f"Fact number {i} about owls. " * 12, f"doc{i}.txt",
    ...                 f"doc{i}.txt") for i in range(5)]
    >>> def llm(prompt):  # any "prompt -> text" function, or a chat model
    ...     return "Which owl fact has this number?"
    >>> out = tempfile.mkdtemp()
    >>> report = generate_dataset(chunks, llm, out, questions=3, progress=False)
    >>> report.questions, sorted(p.name for p in Path(out).iterdir())[:3]
    (3, ['corpus.jsonl', 'dataset.json', 'generation.jsonl'])
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag_rerankers.errors import ConfigError, InvalidInputError
from rag_rerankers.evaluation.corpus import Chunk

logger = logging.getLogger("rag_rerankers.evaluation")

PROMPT_VERSION = "questions-1"
MAX_QUESTIONS_PER_CHUNK = 5
COPY_WORDS = 8
"""A question sharing this many consecutive words with its chunk is a copy, and rejected."""

PROMPT = """You write search questions to evaluate a document retrieval system.

Below is a passage from a document collection. Write {n} question(s) that this passage answers.
Rules:
- Ask what a user who has NOT read the passage would ask: answerable from this passage, and
  specific enough that this passage is needed to answer it.
- Use your own words: do not copy phrases of the passage longer than four words.
- Do not mention "the passage", "the text", "the document" or "the author".
- Write each question on its own line, without numbering or any other text.

Passage (from {source}):
\"\"\"
{text}
\"\"\"

Questions:"""


@dataclass
class Completion:
    """One LLM reply: its text and what it cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


@dataclass
class GenerationReport:
    """What a generation run made and cost (also written to ``dataset.json``)."""

    out: str
    llm: str
    chunks: int
    sampled: int
    questions: int
    resumed: int = 0
    """Sampled chunks whose questions came from an earlier, interrupted run."""
    rejected: int = 0
    """Replies' lines dropped: copies of the chunk, duplicates, empty or too short."""
    failed: int = 0
    """Chunks whose LLM call failed (asked again by the next run)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        cost = "unknown (no price for this model)" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return (f"{self.questions} questions from {self.sampled} of {self.chunks} chunks "
                f"({self.resumed} resumed, {self.rejected} lines rejected, {self.failed} failed); "
                f"tokens: {self.input_tokens} input, {self.output_tokens} output; "
                f"estimated cost: {cost}")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def copies_chunk(question: str, chunk: str, n: int = COPY_WORDS) -> bool:
    """Whether ``question`` repeats ``n`` consecutive words of ``chunk``.

    Example:
        >>> copies_chunk("the quick brown fox jumps over the lazy dog?",
        ...              "Yes: the quick brown fox jumps over the lazy dog.")
        True
        >>> copies_chunk("What does the fox jump over?", "the quick brown fox jumps over")
        False
    """
    q = _words(question)
    if len(q) < n:
        return False
    c = _words(chunk)
    shingles = {tuple(c[i:i + n]) for i in range(len(c) - n + 1)}
    return any(tuple(q[i:i + n]) in shingles for i in range(len(q) - n + 1))


_NUMBERING = re.compile(r"^\s*(?:[-*•]+|\(?\d+[.):]|Q\d*[.:])\s*")


def parse_questions(reply: str, chunk: str, n: int) -> tuple[list[str], int]:
    """Up to ``n`` questions from a reply (one per line, numbering removed) and how many lines
    were rejected (copies of the chunk, duplicates, fragments under four words).

    Example:
        >>> parse_questions("1. How long do owls live?\\n2. How long do owls live?\\nok", "", 3)
        (['How long do owls live?'], 2)
    """
    out: list[str] = []
    rejected = 0
    for line in reply.splitlines():
        q = _NUMBERING.sub("", line).strip().strip('"').strip()
        if not q:
            continue
        if len(_words(q)) < 4 or q in out or copies_chunk(q, chunk):
            rejected += 1
            continue
        if len(out) < n:
            out.append(q)
    return out, rejected


def sample_chunks(chunks: Sequence[Chunk], n: int, seed: int, min_chars: int) -> list[Chunk]:
    """``n`` chunks of at least ``min_chars`` characters, drawn with ``random.Random(seed)``."""
    eligible = [c for c in chunks if len(c.text) >= min_chars]
    if not eligible:
        raise InvalidInputError(
            f"no chunk has {min_chars} characters or more: lower min_chars or add documents")
    return random.Random(seed).sample(eligible, min(n, len(eligible)))


def _chunk_key(chunk: Chunk, n: int) -> str:
    h = hashlib.sha1(f"{PROMPT_VERSION}\x00{n}\x00{chunk.id}\x00{chunk.text}".encode())
    return h.hexdigest()[:16]


def _load_records(path: Path) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            try:
                row = json.loads(line)
                records[row["key"]] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                logger.warning("%s:%d is not a valid record; ignored", path, n)  # a torn line
    return records


def _append(path: Path, row: dict[str, Any]) -> None:
    torn = path.exists() and path.stat().st_size > 0 and path.read_bytes()[-1:] != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(row) + "\n")
        f.flush()


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    tmp.replace(path)


def generate_dataset(
    chunks: Sequence[Chunk],
    llm: Any,
    out: str | Path,
    *,
    questions: int = 200,
    questions_per_chunk: int = 1,
    seed: int = 0,
    min_chars: int = 200,
    resume: bool = True,
    progress: bool = True,
    concurrency: int = 1,
    settings: dict[str, Any] | None = None,
) -> GenerationReport:
    """Write a labelled set for ``chunks`` into the folder ``out`` (see the module docstring).

    Args:
        llm: a chat model (``"provider:model"`` string, LangChain chat model, LlamaIndex LLM) or
            a function ``prompt -> text``.
        questions: how many questions in all; chunks are sampled to give that many, and when
            there are too few chunks each gives more (at most 5).
        questions_per_chunk: questions asked of each sampled chunk.
        min_chars: shorter chunks (headings, fragments) are never sampled.
        resume: reuse the chunks' questions already in ``out/generation.jsonl``.
        concurrency: LLM calls in flight at once (threads).
    """
    if questions < 1 or questions_per_chunk < 1:
        raise ConfigError("questions and questions_per_chunk must be >= 1")
    if not chunks:
        raise InvalidInputError("no chunks to generate questions from")
    ids = [c.id for c in chunks]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("chunk ids must be unique")
    ask, llm_label = as_completion(llm)
    eligible = sum(1 for c in chunks if len(c.text) >= min_chars)
    per_chunk = questions_per_chunk
    if eligible and eligible * per_chunk < questions:
        per_chunk = min(MAX_QUESTIONS_PER_CHUNK, math.ceil(questions / eligible))
        logger.warning("only %d chunks of %d+ characters: asking %d questions of each",
                       eligible, min_chars, per_chunk)
    sampled = sample_chunks(chunks, math.ceil(questions / per_chunk), seed, min_chars)

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "generation.jsonl"
    if not resume and log.exists():
        log.unlink()
    records = _load_records(log)
    report = GenerationReport(out=str(folder), llm=llm_label, chunks=len(chunks),
                              sampled=len(sampled), questions=0)
    from tqdm.auto import tqdm

    keys = {c.id: _chunk_key(c, per_chunk) for c in sampled}
    done = sum(1 for c in sampled if records.get(keys[c.id], {}).get("error") is None
               and keys[c.id] in records)
    report.resumed = done
    bar = tqdm(total=len(sampled), initial=done, desc="generating questions", unit="chunk",
               disable=not progress, file=sys.stderr)
    def one(chunk: Chunk) -> dict[str, Any]:
        row: dict[str, Any] = {"key": keys[chunk.id], "chunk_id": chunk.id}
        try:
            reply = ask(PROMPT.format(n=per_chunk, source=chunk.doc_id, text=chunk.text))
            qs, rejected = parse_questions(reply.text, chunk.text, per_chunk)
            row.update(questions=qs, rejected=rejected, error=None,
                       input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
                       cost_usd=reply.cost_usd)
        except Exception as exc:  # one failing call must not lose the others' questions
            logger.warning("question generation failed for %s: %s", chunk.id, exc)
            row.update(questions=[], rejected=0, error=f"{type(exc).__name__}: {exc}")
        return row

    todo = [c for c in sampled
            if not (keys[c.id] in records and records[keys[c.id]].get("error") is None)]
    pool = ThreadPoolExecutor(max(1, concurrency)) if concurrency > 1 else None
    try:
        # Rows are logged as they complete; the written set follows the sample's order, so it
        # does not depend on which call finished first.
        rows = (pool.map(one, todo) if pool is not None else map(one, todo))
        for row in rows:
            records[row["key"]] = row
            _append(log, row)
            bar.update(1)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()

    queries: list[dict[str, Any]] = []
    qrels: list[tuple[str, str]] = []
    costs: list[float] = []
    for chunk in sampled:
        row = records[keys[chunk.id]]
        if row.get("error") is not None:
            report.failed += 1
            continue
        report.rejected += row.get("rejected", 0)
        report.input_tokens += row.get("input_tokens") or 0
        report.output_tokens += row.get("output_tokens") or 0
        if row.get("cost_usd") is not None:
            costs.append(row["cost_usd"])
        for q in row["questions"]:
            if len(queries) < questions:
                qid = f"q{len(queries):04d}"
                queries.append({"_id": qid, "text": q, "metadata": {"chunk_id": chunk.id}})
                qrels.append((qid, chunk.id))
    offline = llm_label == "fake" or llm_label.startswith("function:")
    report.cost_usd = sum(costs) if costs else (0.0 if offline else None)
    report.questions = len(queries)
    report.settings = {"seed": seed, "questions": questions, "questions_per_chunk": per_chunk,
                       "min_chars": min_chars, "prompt": PROMPT_VERSION, **(settings or {})}

    _write_jsonl(folder / "corpus.jsonl", [
        {"_id": c.id, "title": "", "text": c.text, "metadata": {"doc_id": c.doc_id}}
        for c in chunks])
    _write_jsonl(folder / "queries.jsonl", queries)
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, cid in qrels:
            f.write(f"{qid}\t{cid}\t1\n")
    (folder / "dataset.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def as_completion(llm: Any) -> tuple[Callable[[str], Completion], str]:
    """A function ``prompt -> Completion`` and a label for any supported LLM; ``"fake"`` is
    :class:`~rag_rerankers.testing.fake_llm.FakeQuestionWriter` (an offline dry run: template
    questions, no model)."""
    if isinstance(llm, str) and llm.strip() == "fake":
        from rag_rerankers.testing.fake_llm import FakeQuestionWriter

        logger.warning("--llm fake: template questions from an offline stand-in, not a model")
        writer = FakeQuestionWriter()
        return (lambda prompt: Completion(writer(prompt))), "fake"
    if callable(llm) and not _is_chat_model(llm):
        name = getattr(llm, "__name__", type(llm).__name__)

        def ask(prompt: str) -> Completion:
            reply = llm(prompt)
            return reply if isinstance(reply, Completion) else Completion(str(reply))

        return ask, f"function:{name}"
    return _chat_completion(llm)


def _is_chat_model(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return isinstance(obj, str) or module.startswith(("langchain", "llama_index"))


def _chat_completion(llm: Any) -> tuple[Callable[[str], Completion], str]:
    from rag_rerankers.evaluation.pricing import llm_cost
    from rag_rerankers.llm import ChatModel

    model = ChatModel.of(llm, **({"temperature": 0} if isinstance(llm, str) else {}))

    def ask(prompt: str) -> Completion:
        reply = model.complete(None, prompt)
        return Completion(reply.text, reply.usage.input_tokens, reply.usage.output_tokens,
                          llm_cost(model.model_name, reply.usage.input_tokens,
                                   reply.usage.output_tokens))

    return ask, model.name

