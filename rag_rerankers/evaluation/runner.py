"""Run one reranker over an :class:`EvalDataset`: rankings, metrics, latency and cost.

Each query's result is appended to a JSONL file as soon as it is known, so an interrupted run
resumes where it stopped: a record is reused only for the same run (its resume key,
:func:`run_id`: the label and the whole spec, secrets included but never written) and the same
query id, query text and candidate ids (see :meth:`EvalDataset.query_key`). A query that raises
is recorded with its error and the run goes on; it scores 0 on every metric (see
:func:`rag_rerankers.evaluation.metrics.per_query`).

Example:
    >>> from rag_rerankers.evaluation.dataset import EvalDataset
    >>> ds = EvalDataset.from_memory(
    ...     queries={"q1": "red apples", "q2": "bicycle chain"},
    ...     candidates={"q1": ["blue sky", "red apples here"],
    ...                 "q2": ["oil the bicycle chain", "baking bread"]},
    ...     qrels={"q1": {"1": 1}, "q2": {"0": 1}})
    >>> res = evaluate("bm25", ds, progress=False)
    >>> res.metrics["nDCG@10"], res.n_failed
    (1.0, 0)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rag_rerankers.base import Reranker
from rag_rerankers.evaluation.dataset import EvalDataset
from rag_rerankers.evaluation.metrics import DEFAULT_METRICS, mean, parse_metrics, per_query
from rag_rerankers.evaluation.pricing import PRICES, estimate_cost, find_price, llm_cost
from rag_rerankers.llm.usage import Usage, track_usage

logger = logging.getLogger("rag_rerankers.evaluation")

FIRST_STAGE = "first-stage"
"""The pseudo-spec that keeps the first stage's order (the baseline of every comparison)."""
_FIRST_STAGE_NAMES = {FIRST_STAGE, "none", "first_stage", "baseline"}

SpecLike = str | Mapping[str, Any] | Reranker


@dataclass
class QueryRecord:
    """One query of one run, as written to the JSONL file."""

    run: str
    key: str
    qid: str
    docids: list[str]
    latency_s: float | None
    n_docs: int
    cost_usd: float | None = None
    error: str | None = None
    run_id: str | None = None
    """The resume key of the run (:func:`run_id`); ``None`` in files written before it existed,
    whose records are never reused."""
    llm_calls: int | None = None
    """LLM rerankers only: chat-model calls made for this query (cache hits make none)."""
    input_tokens: int | None = None
    """LLM rerankers only: prompt tokens the model reported for this query."""
    output_tokens: int | None = None
    """LLM rerankers only: answer tokens the model reported for this query."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunResult:
    """Everything measured for one reranker (or the first stage) on one dataset."""

    label: str
    backend: str | None
    model: str | None
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries: int
    n_docs: int
    latency: dict[str, float] | None = None
    cost_usd: float | None = None
    failures: dict[str, str] = field(default_factory=dict)
    llm_usage: dict[str, float] | None = None
    """LLM rerankers only: ``llm_calls``, ``input_tokens``, ``output_tokens`` (totals over the
    queries) and the same per query (``*_per_query``, means)."""
    rankings: dict[str, list[str]] = field(default_factory=dict, repr=False)
    reused: int = 0
    """Queries whose stored result (``results_path``) was reused instead of reranked again."""

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def is_first_stage(self) -> bool:
        return self.backend is None

    def to_dict(self, *, include_per_query: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rankings")
        data["n_failed"] = self.n_failed
        if not include_per_query:
            data.pop("per_query")
        return data


class ResultStore:
    """Append-only JSONL of :class:`QueryRecord` objects (one line per query and run)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self, run: str, *, run_id: str | None = None) -> dict[tuple[str, str], QueryRecord]:
        """Records of one run by ``(query id, query key)``; the last line for each wins.

        With ``run_id`` (what :func:`evaluate` resumes by) the records are those of that resume
        key; without it, those labelled ``run`` (labels are for reading: two specs can share one).
        """
        out: dict[tuple[str, str], QueryRecord] = {}
        if not self.path.exists():
            return out
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if (data.get("run_id") == run_id if run_id is not None
                            else data.get("run") == run):
                        data.pop("time", None)
                        rec = QueryRecord(**data)
                        out[(rec.qid, rec.key)] = rec
                except (json.JSONDecodeError, TypeError, KeyError):
                    # A line cut by an interruption: ignore it, the query is simply redone.
                    logger.warning("%s:%d is not a valid record; ignored", self.path, n)
        return out

    def append(self, record: QueryRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(record)
        for name in ("llm_calls", "input_tokens", "output_tokens"):  # LLM rerankers only
            if data[name] is None:
                del data[name]
        data["time"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # After an interruption the file may end in a torn line: start on a fresh one.
        torn = self.path.exists() and self.path.stat().st_size > 0 and _last_byte(self.path) != b"\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("\n" if torn else "") + json.dumps(data) + "\n")
            f.flush()


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1)


def spec_label(spec: SpecLike) -> str:
    """A stable, secret-free label for a spec: the text the user wrote (or ``backend:model``),
    with the values of secret options (API keys) replaced by ``***``, also inside nested
    ``fallbacks=`` values and in every segment of a chain (see
    :func:`~rag_rerankers.config.redact_spec`).

    Labels are for reading: two specs that differ only in a key get one label. What resumes a
    run is :func:`run_id`.

    Example:
        >>> spec_label("cohere:rerank-v3.5?api_key=sk-123&top_n=5")
        'cohere:rerank-v3.5?api_key=***&top_n=5'
        >>> spec_label("bm25 | jina?api_key=sk-123 | bm25?k1=2")
        'bm25 | jina?api_key=*** | bm25?k1=2'
    """
    from rag_rerankers.config import redact_spec

    if isinstance(spec, Reranker):
        return spec.name
    if isinstance(spec, str):
        return redact_spec(spec.strip())
    from rag_rerankers.config import Spec, format_spec
    from rag_rerankers.factory import to_spec
    from rag_rerankers.registry import get_backend

    try:
        parsed = to_spec(spec)
        info, _ = get_backend(parsed.backend)
        secret = {o.name for o in info.all_options() if o.secret}
        options = {k: ("***" if k in secret else _masked(v)) for k, v in parsed.options.items()}
        text = format_spec(Spec(parsed.backend, parsed.model, options))
    except Exception:  # unknown backend or malformed: still never show a secret
        text = f"{dict(spec).get('backend', '?')}?{'&'.join(f'{k}=' for k in dict(spec))}"
    return redact_spec(text)


def _masked(value: Any) -> Any:
    """An option value of a dict spec with its secrets hidden, in nested dicts and lists too."""
    from rag_rerankers.config import is_secret_option, redact_spec

    if isinstance(value, str):
        return redact_spec(value)
    if isinstance(value, Mapping):
        return {k: "***" if is_secret_option(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    if hasattr(value, "get_secret_value"):  # a pydantic SecretStr
        return "***"
    return value


# --------------------------------------------------------------------------- resume keys
# A run's records are found again by its resume key, never by its label alone: the label hides
# secrets, so "cohere?api_key=A" and "cohere?api_key=B" share one. The key is a SHA-256 of the
# label and of the whole spec as written, in which the value of every secret-looking option (at
# any depth: see rag_rerankers.config.replace_secrets) is first replaced by its HMAC-SHA256
# under a random per-user key. Hence:
# - the secret is never written, nor an unkeyed hash of it (a dictionary attack would reverse
#   one for a weak secret): the per-user key lives in ~/.cache/rag-rerankers/resume-key (mode
#   0600, created on first need), never in the results folder, so per_query.jsonl and the
#   other output files do not let anyone test guesses of the secret;
# - two specs that differ anywhere (only in a secret, or in a later segment of a chain) get two
#   keys; a spec without a secret gets the same key on every machine (no HMAC is involved);
# - a spec with a secret resumes for the same user (the same key file); elsewhere, or when the
#   key file cannot be read or written (a per-process key is then used), it simply runs again.
_RUN_ID_VERSION = "run-id-1"
_USER_KEYS: dict[str, bytes] = {}  # key file path -> key, read once per process
_PROCESS_KEY = secrets.token_bytes(32)  # when no key file can be used


def _user_key_path() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "rag-rerankers" / "resume-key"


def _read_key(path: Path) -> bytes | None:
    try:
        key = bytes.fromhex(path.read_text("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return key if len(key) >= 32 else None


def _user_key() -> bytes:
    """The per-user HMAC key of resume keys (its file is created, mode 0600, on first use)."""
    path = _user_key_path()
    if str(path) in _USER_KEYS:
        return _USER_KEYS[str(path)]
    key = _read_key(path)
    if key is None and not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            new = secrets.token_bytes(32)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(new.hex() + "\n")
            key = new
        except FileExistsError:  # another process made it first
            key = _read_key(path)
        except OSError as exc:
            logger.warning("cannot write %s (%s): runs of specs with a secret resume only "
                           "within this process", path, exc)
    if key is None:
        key = _PROCESS_KEY
    _USER_KEYS[str(path)] = key
    return key


def _keyed(secret: str) -> str:
    digest = hmac.new(_user_key(), secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return f"hmac:{digest.hexdigest()}"


def _fingerprint(value: Any) -> Any:
    """A spec as JSON-ready data with every secret replaced by :func:`_keyed`."""
    from rag_rerankers.config import is_secret_option, replace_secrets

    if isinstance(value, str):
        return replace_secrets(value, _keyed)
    if hasattr(value, "get_secret_value"):  # a pydantic SecretStr
        return _keyed(str(value.get_secret_value()))
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            if is_secret_option(str(k)) and isinstance(v, (str, int)):
                items.append([str(k), _keyed(str(v))])
            else:  # a SecretStr is keyed above; None or a nested spec is read on
                items.append([str(k), _fingerprint(v)])
        return sorted(items, key=lambda item: item[0])
    if isinstance(value, (list, tuple)):
        return [_fingerprint(v) for v in value]
    if isinstance(value, Reranker):
        return {"reranker": value.name}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return repr(value)


def run_id(spec: SpecLike, label: str) -> str:
    """The resume key of a run: a hash of its label and its whole spec (see the comment above).

    A :class:`Reranker` object is known by its label only: give two different ones two labels.

    Example:
        >>> run_id("bm25?k1=1.2 | bm25", "x") == run_id("bm25?k1=1.2 | bm25", "x")
        True
        >>> run_id("bm25?k1=1.2 | bm25", "x") == run_id("bm25?k1=1.5 | bm25", "x")
        False
    """
    spec_data = None if isinstance(spec, Reranker) else _fingerprint(
        spec.strip() if isinstance(spec, str) else spec)
    material = json.dumps([_RUN_ID_VERSION, label, spec_data], sort_keys=True)
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def is_first_stage(spec: SpecLike) -> bool:
    return isinstance(spec, str) and spec.strip().lower() in _FIRST_STAGE_NAMES


def latency_stats(latencies: Sequence[float], n_docs: int) -> dict[str, float] | None:
    """p50/p95/mean per query in milliseconds and documents per second."""
    if not latencies:
        return None
    import numpy as np

    arr = np.asarray(latencies, dtype=float)
    total = float(arr.sum())
    return {
        "p50_ms": float(np.percentile(arr, 50) * 1000),
        "p95_ms": float(np.percentile(arr, 95) * 1000),
        "mean_ms": float(arr.mean() * 1000),
        "total_s": total,
        "docs_per_s": n_docs / total if total > 0 else float("nan"),
    }


def first_stage_result(
    dataset: EvalDataset, metrics: Sequence[str] = DEFAULT_METRICS, *, rel: int = 1
) -> RunResult:
    """Metrics of the candidates in first-stage order (no reranking, no latency)."""
    qids = dataset.evaluated_qids
    rankings = {q: [c.docid for c in dataset.candidates[q]] for q in qids}
    measures = parse_metrics(metrics, rel)
    pq = per_query(rankings, dataset.qrels, measures, qids=qids)
    return RunResult(
        label=f"{FIRST_STAGE} ({dataset.first_stage})" if dataset.first_stage else FIRST_STAGE,
        backend=None, model=None, metrics=mean(pq, list(measures)), per_query=pq,
        n_queries=len(qids), n_docs=sum(len(r) for r in rankings.values()), rankings=rankings,
    )


def _kind(backend: str) -> str | None:
    try:
        from rag_rerankers.registry import get_backend

        return get_backend(backend)[0].kind
    except Exception:  # a custom Reranker subclass that is not registered
        return None


def evaluate(
    reranker: SpecLike,
    dataset: EvalDataset,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    rel: int = 1,
    results_path: str | Path | None = None,
    resume: bool = True,
    progress: bool = False,
    label: str | None = None,
    warmup: bool = True,
) -> RunResult:
    """Rerank every evaluated query of ``dataset`` and measure quality, latency and cost.

    Args:
        reranker: a config string, dict or :class:`Reranker`; ``"first-stage"`` keeps the
            candidates' order (the baseline).
        metrics: metric names (see :mod:`rag_rerankers.evaluation.metrics`).
        rel: minimum grade counted relevant by binary metrics (MRR, Recall, P, MAP).
        results_path: JSONL file that receives one record per query; with ``resume`` the
            queries already recorded there (without error) are not run again
            (:attr:`RunResult.reused` says how many).
        progress: show a tqdm progress bar on stderr (the CLI does; a library call prints
            nothing by default).
        warmup: run one untimed call first (local models: the first call pays one-off costs);
            never done for API backends, where it would be billed.
    """
    if is_first_stage(reranker):
        return first_stage_result(dataset, metrics, rel=rel)
    measures = parse_metrics(metrics, rel)
    run = label or spec_label(reranker)
    rid = run_id(reranker, run)
    store = ResultStore(results_path) if results_path is not None else None
    stored = store.load(run, run_id=rid) if (store and resume) else {}
    qids = dataset.evaluated_qids
    keys = {q: dataset.query_key(q) for q in qids}
    records = {q: stored[(q, keys[q])] for q in qids if (q, keys[q]) in stored}
    todo = [q for q in qids if not (q in records and records[q].ok)]
    reused = len(qids) - len(todo)
    if reused:
        logger.info("%s: reusing %d of %d query results stored in %s", run, reused, len(qids),
                    results_path)

    rr: Reranker | None = None
    if todo:
        from rag_rerankers.factory import init_reranker

        rr = init_reranker(reranker)
    backend = rr.backend if rr is not None else None
    model = rr.model if rr is not None else None
    if rr is None and not isinstance(reranker, Reranker):
        # Everything was resumed: name the backend without building (or loading) anything.
        # A chain ("a | b") is named by its first reranker, as the built chain is.
        from rag_rerankers.factory import to_spec, validate_spec

        first = reranker.split("|", 1)[0].strip() if isinstance(reranker, str) else reranker
        info, model, _ = validate_spec(to_spec(first))
        backend = info.name
    elif isinstance(reranker, Reranker):
        backend, model = reranker.backend, reranker.model

    billed = rr is not None and (_kind(rr.backend) in ("api", "llm") or rr.backend in PRICES)
    if rr is not None and warmup and not billed and todo:
        first = dataset.candidates[todo[0]]
        # A failure here is recorded by the timed call that follows.
        with contextlib.suppress(Exception):
            rr.rank(dataset.queries[todo[0]], [c.text for c in first[:2]], top_n=None)

    bar = None
    if progress:  # tqdm.auto only when asked: in a notebook its import alone can warn
        from tqdm.auto import tqdm

        bar = tqdm(total=len(qids), initial=len(qids) - len(todo), desc=run[:40], unit="q",
                   file=sys.stderr, leave=True)
    try:
        for qid in todo:
            cands = dataset.candidates[qid]
            texts = [c.text for c in cands]
            query = dataset.queries[qid]
            assert rr is not None
            try:
                with track_usage() as meter:
                    start = time.perf_counter()
                    ranked = rr.rank(query, texts, top_n=None)
                    elapsed = time.perf_counter() - start
                rec = QueryRecord(
                    run=run, key=keys[qid], qid=qid,
                    docids=[cands[item.index].docid for item in ranked],
                    latency_s=elapsed, n_docs=len(texts),
                    cost_usd=estimate_cost(rr.backend, rr.model, query, texts), run_id=rid,
                )
                _add_llm_usage(rec, rr, meter.total)
            except Exception as exc:  # one failing query must not stop the run
                logger.warning("query %s failed for %s: %s", qid, run, exc)
                rec = QueryRecord(
                    run=run, key=keys[qid], qid=qid, docids=[], latency_s=None,
                    n_docs=len(texts), error=f"{type(exc).__name__}: {exc}", run_id=rid,
                )
            records[qid] = rec
            if store is not None:
                store.append(rec)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    done = [records[q] for q in qids if q in records]
    ok = [r for r in done if r.ok]
    rankings = {r.qid: r.docids for r in ok}
    pq = per_query(rankings, dataset.qrels, measures, qids=qids)
    costs = [r.cost_usd for r in ok if r.cost_usd is not None]
    price = find_price(backend, model) if backend else None
    llm_priced = any(r.llm_calls for r in ok) and bool(costs)
    return RunResult(
        label=run, backend=backend, model=model, metrics=mean(pq, list(measures)),
        per_query=pq, n_queries=len(qids), n_docs=sum(r.n_docs for r in ok),
        latency=latency_stats([r.latency_s for r in ok if r.latency_s is not None],
                              sum(r.n_docs for r in ok)),
        cost_usd=sum(costs) if (costs and ((price is not None and price.usd is not None)
                                           or llm_priced)) else None,
        failures={r.qid: r.error or "" for r in done if not r.ok}, rankings=rankings,
        llm_usage=llm_usage_summary(ok),
        reused=reused,
    )


def _add_llm_usage(rec: QueryRecord, rr: Reranker, usage: Usage) -> None:
    """Record the LLM calls of one query, and their price when one is known."""
    llms = [m for m in (rr, *rr.ranking_setup.fallbacks) if getattr(m, "chat_model", None)]
    if not usage.calls and not llms:
        return
    rec.llm_calls, rec.input_tokens, rec.output_tokens = (
        usage.calls, usage.input_tokens, usage.output_tokens)
    if llms:  # priced as the first llm reranker of a chain (the one that normally answers)
        member = llms[0]
        cost = llm_cost(member.chat_model.name, usage.input_tokens, usage.output_tokens,
                        input_price=getattr(member, "input_price", None),
                        output_price=getattr(member, "output_price", None))
        if cost is not None:
            rec.cost_usd = (rec.cost_usd or 0.0) + cost


def llm_usage_summary(records: Sequence[QueryRecord]) -> dict[str, float] | None:
    """Totals and per-query means of the LLM usage of successful queries (``None``: no LLM).

    Example:
        >>> recs = [QueryRecord("r", "k", "q1", [], 0.1, 2, llm_calls=2, input_tokens=50,
        ...                     output_tokens=4),
        ...         QueryRecord("r", "k", "q2", [], 0.1, 2, llm_calls=0, input_tokens=0,
        ...                     output_tokens=0)]
        >>> llm_usage_summary(recs)["input_tokens_per_query"]
        25.0
    """
    if not any(r.llm_calls is not None for r in records):
        return None
    out: dict[str, float] = {}
    for name in ("llm_calls", "input_tokens", "output_tokens"):
        total = sum(getattr(r, name) or 0 for r in records)
        out[name] = total
        out[f"{name}_per_query"] = total / len(records) if records else 0.0
    return out
