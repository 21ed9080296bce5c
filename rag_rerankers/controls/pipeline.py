"""The one ranking pipeline behind :meth:`Reranker.rank` and :meth:`Reranker.arank`.

It is written once as a generator that *yields* scoring requests and receives raw scores, so
the sync driver (:func:`run`, calls ``_score``) and the async driver (:func:`arun`, awaits
``_ascore``) share every step:

1. build what the reranker reads (``rank_fields``) and group duplicates (``dedup``);
2. for each reranker of the chain (the reranker, then its ``fallbacks``): cut or split long
   documents (``long_docs``), look scores up in the cache, score the misses, pool windows;
   a failure moves on to the next reranker (``on_error``);
3. normalize (``normalize``), apply ``score_threshold``, fuse with the input order
   (``fusion=rrf``), sort (score descending, ties in input order, NaN last), apply ``top_n``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rag_rerankers.controls.cache import ScoreCache, content_hash, identity, make_key
from rag_rerankers.controls.chunk import Span, count_tokens, pool, windows
from rag_rerankers.controls.fusion import rrf
from rag_rerankers.controls.normalize import normalize_scores
from rag_rerankers.controls.setup import DEFAULT_SETUP, Controls
from rag_rerankers.controls.text import group_duplicates, reader_parts
from rag_rerankers.errors import AllRerankersFailedError, BackendError
from rag_rerankers.types import RankedItem, Scorer

logger = logging.getLogger("rag_rerankers")

# Keys this pipeline writes into RankedItem.metadata.
RAW_SCORE = "raw_score"
RERANKED_BY = "reranked_by"
RERANKED = "reranked"
CHUNK_SPAN = "chunk_span"
CHUNKS = "chunks"
DUPLICATE_OF = "duplicate_of"
DUPLICATES = "duplicates"
RERANK_ERROR = "rerank_error"
RERANKER_RANK = "reranker_rank"
RERANKER_SCORE = "reranker_score"


def sort_key(index_and_score: tuple[int, float]) -> tuple[bool, float, int]:
    """Order by score descending, ties in input order, NaN after everything (even -inf).

    Example:
        >>> sorted([(0, 0.5), (1, float("nan")), (2, 0.9), (3, 0.5)], key=sort_key)
        [(2, 0.9), (0, 0.5), (3, 0.5), (1, nan)]
    """
    index, score = index_and_score
    nan = math.isnan(score)
    return (nan, 0.0 if nan else -score, index)


@dataclass(frozen=True)
class ScoreRequest:
    """Score ``texts`` for ``query`` with ``scorer`` (one backend call).

    With ``top_n``, only the best ``top_n`` are asked for (``_score_top``); the answer is then
    ``(index, score)`` pairs instead of one score per text.
    """

    scorer: Scorer
    query: str
    texts: list[str]
    top_n: int | None = None


Steps = Generator[ScoreRequest, Sequence[float], list[RankedItem]]


def run(steps: Steps) -> list[RankedItem]:
    """Drive the pipeline with the backends' sync ``_score``."""
    try:
        request = next(steps)
        while True:
            try:
                if request.top_n is None:
                    scores = request.scorer._score(request.query, request.texts)
                else:
                    scores = request.scorer._score_top(request.query, request.texts, request.top_n)
            except Exception as exc:  # handed to the pipeline, which applies on_error
                request = steps.throw(exc)
            else:
                request = steps.send(scores)
    except StopIteration as stop:
        result: list[RankedItem] = stop.value
        return result


async def arun(steps: Steps) -> list[RankedItem]:
    """Drive the pipeline with the backends' async ``_ascore``."""
    try:
        request = next(steps)
        while True:
            try:
                if request.top_n is None:
                    scores = await request.scorer._ascore(request.query, request.texts)
                else:
                    scores = await request.scorer._ascore_top(
                        request.query, request.texts, request.top_n
                    )
            except Exception as exc:
                request = steps.throw(exc)
            else:
                request = steps.send(scores)
    except StopIteration as stop:
        result: list[RankedItem] = stop.value
        return result


def rank_steps(
    owner: Scorer,
    query: str,
    docs: list[str],
    metadata: Sequence[Mapping[str, Any] | None] | None,
    top_n: int | None,
) -> Steps:
    """The pipeline for one query (see the module docs); ``docs`` is non-empty and checked."""
    setup = getattr(owner, "_ranking", None) or DEFAULT_SETUP
    c = setup.controls
    metas = metadata if metadata is not None else [None] * len(docs)
    parts = [reader_parts(doc, meta, c.rank_fields) for doc, meta in zip(docs, metas, strict=True)]
    group = group_duplicates([p + doc + s for (p, s), doc in zip(parts, docs, strict=True)])
    reps = [i for i, g in enumerate(group) if g == i]

    chain = (owner, *setup.fallbacks)
    failures: list[tuple[str, BaseException]] = []
    for position, scorer in enumerate(chain):
        try:
            raw, details = yield from _score_units(
                scorer, query, [docs[i] for i in reps], [parts[i] for i in reps], c, setup.cache,
                top_n,
            )
        except Exception as exc:
            if c.on_error == "raise":
                raise
            failures.append((scorer.name, exc))
            if position + 1 < len(chain):
                then = f"falling back to {chain[position + 1].name}"
            elif c.on_error == "passthrough":
                then = "keeping the retrieval order (reranked=False)"
            else:
                then = "no fallback left"
            logger.warning(
                "reranker %s failed (%s: %s); %s", scorer.name, type(exc).__name__, exc, then
            )
            continue
        scores = normalize_scores(
            [math.nan if r is None else r for r in raw], scorer.score_type, c.normalize
        )
        unit = {rep: u for u, rep in enumerate(reps)}
        rows = []
        for i, rep in enumerate(group):
            u = unit[rep]
            if raw[u] is None:  # not among the best top_n the backend returned
                continue
            meta: dict[str, Any] = {RAW_SCORE: raw[u], RERANKED_BY: scorer.name, RERANKED: True}
            meta.update(details[u])
            rows.append((i, scores[u], meta))
        if c.fusion == "rrf":
            return _select(docs, group, _fused(rows, c), c, top_n, threshold=None)
        return _select(docs, group, rows, c, top_n, threshold=c.score_threshold)

    if c.on_error == "passthrough":
        name, exc = failures[-1]
        rows = [
            (
                i,
                math.nan,
                {RAW_SCORE: None, RERANKED_BY: None, RERANKED: False,
                 RERANK_ERROR: f"{name}: {type(exc).__name__}: {exc}"},
            )
            for i in range(len(docs))
        ]
        return _select(docs, group, rows, c, top_n, threshold=None)
    raise AllRerankersFailedError(failures) from failures[-1][1]


def _fused(rows: list[tuple[int, float, dict[str, Any]]], c: Controls) -> list[tuple[int, float, dict[str, Any]]]:
    """``fusion=rrf``: RRF scores of the reranker's order and the input order. Every candidate
    was scored (the pipeline asks for all scores); the threshold applies to the reranker's own
    (normalized) score, since RRF scores have no absolute meaning."""
    order = [i for i, _ in sorted(((i, score) for i, score, _ in rows), key=sort_key)]
    fused, reranker_rank = rrf(order, c.rrf_k)
    out = []
    for i, score, meta in rows:
        if c.score_threshold is not None and not (score >= c.score_threshold):
            continue
        meta.update({RERANKER_RANK: reranker_rank[i], RERANKER_SCORE: score})
        out.append((i, fused[i], meta))
    return out


def _select(
    docs: list[str],
    group: list[int],
    rows: list[tuple[int, float, dict[str, Any]]],
    c: Controls,
    top_n: int | None,
    threshold: float | None,
) -> list[RankedItem]:
    """Mark duplicates, sort, apply the threshold then ``top_n``."""
    members: dict[int, list[int]] = {}
    listed = {row[0] for row in rows}
    for i, rep in enumerate(group):
        if i not in listed:
            continue
        if rep != i:
            members.setdefault(rep, []).append(i)
    kept = []
    for i, score, meta in rows:
        rep = group[i]
        if rep != i:
            if c.dedup == "collapse":
                continue
            meta[DUPLICATE_OF] = rep
        elif i in members:
            meta[DUPLICATES] = members[i]
        kept.append((i, score, meta))
    kept.sort(key=lambda row: sort_key((row[0], row[1])))
    if threshold is not None:
        kept = [row for row in kept if not math.isnan(row[1]) and row[1] >= threshold]
    if top_n is not None:
        kept = kept[:top_n]
    return [
        RankedItem(index=i, score=score, rank=r, document=docs[i], metadata=MappingProxyType(meta))
        for r, (i, score, meta) in enumerate(kept, start=1)
    ]


def _score_units(
    scorer: Scorer,
    query: str,
    contents: list[str],
    parts: list[tuple[str, str]],
    c: Controls,
    cache: ScoreCache | None,
    top_n: int | None = None,
) -> Generator[ScoreRequest, Any, tuple[list[float | None], list[dict[str, Any]]]]:
    """Raw score (windows pooled) and metadata of each unique document, with one scorer.

    A score is ``None`` when the backend was asked for the best ``top_n`` only and did not
    return that document (it cannot be in the result).
    """
    if (
        top_n is not None
        and top_n < len(contents)
        and scorer.supports_partial_scores
        and cache is None
        and not c.chunking
        and c.normalize != "minmax"  # needs every score; the others are monotone
        and c.fusion == "none"  # needs every candidate's rank
    ):
        texts = [p + doc + s for (p, s), doc in zip(parts, contents, strict=True)]
        got = yield ScoreRequest(scorer, query, texts, top_n)
        partial: list[float | None] = [None] * len(texts)
        for index, score in got:
            partial[index] = float(score)
        if sum(s is not None for s in partial) < top_n:
            raise BackendError(
                f"backend {scorer.backend!r} returned fewer than the {top_n} results asked for"
            )
        return partial, [{} for _ in contents]
    if not c.chunking:
        texts = [p + doc + s for (p, s), doc in zip(parts, contents, strict=True)]
        raw: list[float | None] = list((yield from _cached_scores(scorer, query, texts, cache)))
        return raw, [{} for _ in contents]

    window = scorer.token_window()
    tokenizer = window.tokenizer if window is not None else None
    lock = window.lock if window is not None else None
    base = c.chunk_size
    if base is None and window is not None:
        base = window.max_tokens - window.reserved
        if window.pair_with_query:
            base -= count_tokens(query, tokenizer, lock) + 1
    spans: list[list[Span]] = []
    for (prefix, suffix), doc in zip(parts, contents, strict=True):
        if base is None:  # nothing known about the window: leave the document whole
            spans.append([(0, len(doc))])
            continue
        size = base
        if c.chunk_size is None and (prefix or suffix):
            size -= count_tokens(prefix + suffix, tokenizer, lock)
        size = max(8, size) if c.chunk_size is None else size
        overlap = c.chunk_overlap if c.chunk_overlap is not None else size // 4
        found = windows(doc, size, min(overlap, size - 1), tokenizer, lock)
        spans.append(found if c.long_docs == "chunk" else found[:1])

    texts = [
        p + doc[start:end] + s
        for (p, s), doc, doc_spans in zip(parts, contents, spans, strict=True)
        for start, end in doc_spans
    ]
    flat = yield from _cached_scores(scorer, query, texts, cache)
    pooled: list[float | None] = []
    details: list[dict[str, Any]] = []
    at = 0
    for doc_spans in spans:
        score, best = pool(flat[at : at + len(doc_spans)], c.pooling)
        at += len(doc_spans)
        pooled.append(score)
        details.append({CHUNK_SPAN: doc_spans[best], CHUNKS: len(doc_spans)})
    return pooled, details


def _cached_scores(
    scorer: Scorer, query: str, texts: list[str], cache: ScoreCache | None
) -> Generator[ScoreRequest, Sequence[float], list[float]]:
    """Raw scores of ``texts``; with a cache, only the misses reach the backend."""
    if cache is None:
        got = yield ScoreRequest(scorer, query, texts)
        return scorer._checked_scores(got, len(texts))
    ident = identity(scorer)
    if not getattr(scorer, "independent_scores", True):
        # Scores depend on the whole list (BM25's IDF): cache the list as one entry.
        key = make_key(ident, query, content_hash("\n".join(content_hash(t) for t in texts)))
        hit = cache.get_many([key]).get(key)
        if hit is not None and len(hit) == len(texts):
            return [float(s) for s in hit]
        got = yield ScoreRequest(scorer, query, texts)
        scores = scorer._checked_scores(got, len(texts))
        if not any(math.isnan(s) for s in scores):
            cache.set_many({key: scores})
        return scores
    keys = [make_key(ident, query, content_hash(t)) for t in texts]
    found = cache.get_many(set(keys))
    misses: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key not in found:
            misses.setdefault(key, i)
    if misses:
        got = yield ScoreRequest(scorer, query, [texts[i] for i in misses.values()])
        scores = scorer._checked_scores(got, len(misses))
        new = dict(zip(misses, scores, strict=True))
        cache.set_many({k: v for k, v in new.items() if not math.isnan(v)})
        found.update(new)
    return [float(found[key]) for key in keys]
