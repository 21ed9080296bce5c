"""The :class:`Reranker` base class: one ranking code path for every backend and adapter.

A backend only says how to *score* candidates (``_score`` and, when it has a native async
client, ``_ascore``). Everything else -- input checks, sorting, ties, ``top_n`` and the ranking
controls (normalization, thresholds, fallbacks, cache, long documents, ``rank_fields``,
dedup; see :mod:`rag_rerankers.controls`) -- happens here once, so the core, the LangChain
compressor and the LlamaIndex postprocessor give the same order and scores for the same
candidates.
"""

from __future__ import annotations

import asyncio
import logging
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from rag_rerankers.controls import pipeline
from rag_rerankers.controls.setup import DEFAULT_SETUP, RankingSetup, build_setup
from rag_rerankers.errors import BackendError, InvalidInputError
from rag_rerankers.options import TOP_N, Option
from rag_rerankers.types import RankedItem, ScoreType, TokenWindow

logger = logging.getLogger("rag_rerankers")


class _Unset:
    """Sentinel: "argument not given" (``None`` already means "keep every candidate")."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


def check_top_n(top_n: object) -> int | None:
    """Validate ``top_n``: ``None`` (keep all) or an integer >= 1.

    Example:
        >>> check_top_n(3)
        3
        >>> check_top_n(0)
        Traceback (most recent call last):
        ...
        rag_rerankers.errors.InvalidInputError: top_n must be None (keep all) or an integer >= 1, got 0
    """
    if top_n is None:
        return None
    # numbers.Integral: numpy integers are fine too; bool is not a count
    if isinstance(top_n, bool) or not isinstance(top_n, numbers.Integral) or top_n < 1:
        raise InvalidInputError(f"top_n must be None (keep all) or an integer >= 1, got {top_n!r}")
    return int(top_n)


def check_query(query: object) -> str:
    """Validate a query: a string with at least one non-space character."""
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInputError("query is empty or whitespace: there is nothing to rank against")
    _check_encodable(query, "the query")
    return query


def _check_encodable(text: str, what: str) -> None:
    # A lone surrogate ("\ud800") is a valid Python str but not Unicode text: tokenizers and
    # JSON/HTTP clients fail on it with obscure errors, so name the input here instead.
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} contains a lone surrogate at position {exc.start} (not valid Unicode "
            "text); decode the source with errors='replace'"
        ) from None


def check_documents(documents: object) -> list[str]:
    """Validate candidates: a sequence of strings (not a single string)."""
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise InvalidInputError(
            "documents must be a sequence of str (a list of candidates), "
            f"got {type(documents).__name__}"
        )
    docs = list(documents)
    for i, doc in enumerate(docs):
        if not isinstance(doc, str):
            raise InvalidInputError(
                f"document {i} is {type(doc).__name__}, not str: pass the text of each candidate"
            )
        _check_encodable(doc, f"document {i}")
    return docs


def check_metadata(metadata: object, expected: int) -> list[Mapping[str, Any] | None] | None:
    """Validate per-document metadata: ``None`` or one mapping (or ``None``) per document."""
    if metadata is None:
        return None
    if isinstance(metadata, (str, bytes, Mapping)) or not isinstance(metadata, Sequence):
        raise InvalidInputError(
            f"metadata must be a sequence with one mapping per document, got {type(metadata).__name__}"
        )
    metas = list(metadata)
    if len(metas) != expected:
        raise InvalidInputError(f"got {len(metas)} metadata entries for {expected} documents")
    for i, meta in enumerate(metas):
        if meta is not None and not isinstance(meta, Mapping):
            raise InvalidInputError(f"metadata {i} is {type(meta).__name__}, not a mapping")
    return metas


class Reranker(ABC):
    """Base class of every reranker backend.

    Subclasses set ``backend``, ``score_type`` and (when they load a model) ``default_model``,
    declare their own keyword options in ``options`` (defaults equal to the constructor's) and
    implement :meth:`_score`; those with a native async client also override :meth:`_ascore`.
    A backend module then declares the backend once, beside the class, as a
    :class:`~rag_rerankers.registry.BackendInfo` named ``BACKEND`` (see docs/contributing.md).

    Example:
        >>> from rag_rerankers import init_reranker
        >>> rr = init_reranker("bm25")
        >>> [item.index for item in rr.rank("red apples", ["blue sky", "red apples here"])]
        [1, 0]
    """

    backend: ClassVar[str] = "custom"
    kind: ClassVar[str] = "local"
    """``"local"`` (in-process model), ``"api"`` (remote service), ``"lexical"`` or ``"llm"``
    (a chat model, through LangChain or LlamaIndex)."""
    default_model: ClassVar[str | None] = None
    """The model used when none is given (``None``: the backend takes no model)."""
    score_type: ClassVar[ScoreType] = ScoreType.UNBOUNDED
    options: ClassVar[tuple[Option, ...]] = (TOP_N,)
    """Keyword options this class adds to those of its bases (see :meth:`declared_options`)."""
    independent_scores: ClassVar[bool] = True
    """Whether a document's score is independent of the other candidates (the cache stores
    scores per document when true, per whole candidate list when false, e.g. BM25)."""

    supports_partial_scores: ClassVar[bool] = False
    """Whether :meth:`_score_top` can score only the best ``top_n`` (a provider's ``top_n``);
    the pipeline asks for less only where that gives the same result (no cache, no chunking,
    no ``minmax``)."""

    _ranking: RankingSetup = DEFAULT_SETUP

    def __init__(self, model: str | None = None, *, top_n: int | None = None) -> None:
        self.model = model if model is not None else self.default_model
        self.top_n = check_top_n(top_n)

    @classmethod
    def declared_options(cls) -> tuple[Option, ...]:
        """Every keyword option of this class: its bases' ``options`` first, then its own
        (a redeclared name replaces the inherited one in place).

        Example:
            >>> from rag_rerankers.backends.bm25 import BM25Reranker
            >>> [o.name for o in BM25Reranker.declared_options()]
            ['top_n', 'k1', 'b', 'method', 'stopwords', 'stemmer', 'corpus_stats']
        """
        found: dict[str, Option] = {}
        for klass in reversed(cls.__mro__):
            for opt in vars(klass).get("options", ()):
                found[opt.name] = opt
        return tuple(found.values())

    # ----------------------------------------------------------------- to implement
    @abstractmethod
    def _score(self, query: str, documents: Sequence[str]) -> Sequence[float]:
        """Return one raw score per document, aligned with ``documents`` (never empty input)."""

    async def _ascore(self, query: str, documents: Sequence[str]) -> Sequence[float]:
        """Async scoring. Default: run :meth:`_score` in a worker thread (never blocks the loop)."""
        return await asyncio.to_thread(self._score, query, documents)

    def _score_top(
        self, query: str, documents: Sequence[str], top_n: int
    ) -> Sequence[tuple[int, float]]:
        """``(index, raw score)`` of at least the best ``top_n`` documents (only called when
        ``supports_partial_scores`` is true)."""
        raise NotImplementedError

    async def _ascore_top(
        self, query: str, documents: Sequence[str], top_n: int
    ) -> Sequence[tuple[int, float]]:
        """Async :meth:`_score_top`. Default: run it in a worker thread."""
        return await asyncio.to_thread(self._score_top, query, documents, top_n)

    def token_window(self) -> TokenWindow | None:
        """The model's input window, for ``long_docs`` (``None``: unknown, the default)."""
        return None

    # ----------------------------------------------------------------- public API
    def configure(self, **controls: Any) -> Reranker:
        """Set ``top_n`` and the ranking controls (``normalize``, ``score_threshold``, ``fallbacks``, ``on_error``,
        ``cache``, ``long_docs``, ``rank_fields``, ``dedup``, ``fusion``, ...; see
        :data:`rag_rerankers.controls.setup.CONTROL_OPTIONS`); returns ``self``.

        :func:`~rag_rerankers.init_reranker` calls this with the controls of a config string.
        Each call adds to the controls set before (a cache is rebuilt empty).

        Example:
            >>> from rag_rerankers import init_reranker
            >>> rr = init_reranker("bm25").configure(score_threshold=0.1)
            >>> [i.index for i in rr.rank("red apples", ["blue sky", "red apples"])]
            [1]
        """
        if "top_n" in controls:
            self.top_n = check_top_n(controls.pop("top_n"))
        self._ranking = build_setup(self, {**self._ranking.options, **controls})
        return self

    @property
    def ranking_setup(self) -> RankingSetup:
        """The controls, fallback rerankers and cache that :meth:`rank` applies."""
        return self._ranking

    @property
    def name(self) -> str:
        """``backend:model``, e.g. ``"embedding:sentence-transformers/all-MiniLM-L6-v2"``."""
        return f"{self.backend}:{self.model}" if self.model else self.backend

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """Raw scores aligned with ``documents`` (no sorting, no cut).

        Example:
            >>> from rag_rerankers import init_reranker
            >>> len(init_reranker("bm25").score("cats", ["cats", "dogs"]))
            2
        """
        query = check_query(query)
        docs = check_documents(documents)
        if not docs:
            return []
        return self._checked_scores(self._score(query, docs), len(docs))

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None | _Unset = UNSET,
        *,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[RankedItem]:
        """Rerank ``documents`` for ``query``.

        Args:
            query: the user's question.
            documents: candidate texts.
            top_n: keep the best ``top_n``; ``None`` keeps all; not given: this reranker's
                own ``top_n``.
            metadata: optional metadata of each document (read by ``rank_fields``).

        Returns:
            :class:`RankedItem` objects, best first; ties keep input order, NaN scores go last.
            ``score`` is the normalized score; ``metadata`` holds ``raw_score``,
            ``reranked_by`` and ``reranked`` (plus ``chunk_span``/``chunks``,
            ``duplicates``/``duplicate_of`` when those controls apply).
        """
        steps = self._steps(query, documents, top_n, metadata)
        return [] if steps is None else pipeline.run(steps)

    async def arank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None | _Unset = UNSET,
        *,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[RankedItem]:
        """Async :meth:`rank`; never blocks the event loop."""
        steps = self._steps(query, documents, top_n, metadata)
        return [] if steps is None else await pipeline.arun(steps)

    def rank_many(
        self,
        queries: Sequence[str],
        documents: Sequence[Sequence[str]],
        top_n: int | None | _Unset = UNSET,
    ) -> list[list[RankedItem]]:
        """Rerank several queries, each with its own candidates, one after another."""
        self._check_many(queries, documents)
        return [self.rank(q, d, top_n) for q, d in zip(queries, documents, strict=True)]

    async def arank_many(
        self,
        queries: Sequence[str],
        documents: Sequence[Sequence[str]],
        top_n: int | None | _Unset = UNSET,
        *,
        concurrency: int = 16,
        return_exceptions: bool = False,
    ) -> list[list[RankedItem] | BaseException]:
        """Rerank several queries concurrently, at most ``concurrency`` at a time.

        Results come back in the order of ``queries``. When one query fails, the call raises
        its error and cancels every query not yet finished, so no further (billable) request
        starts; with ``return_exceptions=True`` every query runs and a failed one's slot holds
        its exception instead.

        Example:
            >>> import asyncio
            >>> from rag_rerankers import init_reranker
            >>> out = asyncio.run(init_reranker("bm25").arank_many(["a", " "], [["a b"], ["c"]],
            ...                                                   return_exceptions=True))
            >>> out[0][0].document, type(out[1]).__name__
            ('a b', 'InvalidInputError')
        """
        self._check_many(queries, documents)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        semaphore = asyncio.Semaphore(concurrency)
        failed = False

        async def one(q: str, d: Sequence[str]) -> list[RankedItem]:
            nonlocal failed
            async with semaphore:
                if failed:  # set before the failed query released its slot: start nothing new
                    raise asyncio.CancelledError
                try:
                    return await self.arank(q, d, top_n)
                except Exception:
                    failed = not return_exceptions
                    raise

        tasks = [asyncio.ensure_future(one(q, d)) for q, d in zip(queries, documents, strict=True)]
        try:
            return list(await asyncio.gather(*tasks, return_exceptions=return_exceptions))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release clients or models held by this reranker (a no-op by default)."""

    def __repr__(self) -> str:
        # Never include options that may hold secrets: backend, model and top_n only.
        return f"{type(self).__name__}(backend={self.backend!r}, model={self.model!r}, top_n={self.top_n!r})"

    # ----------------------------------------------------------------- internals
    def _steps(
        self, query: object, documents: object, top_n: object, metadata: object
    ) -> pipeline.Steps | None:
        """The checked pipeline for one call of :meth:`rank`/:meth:`arank` (``None``: no
        candidates, nothing to score)."""
        n = self.top_n if top_n is UNSET else check_top_n(top_n)
        checked_query, docs = check_query(query), check_documents(documents)
        metas = check_metadata(metadata, len(docs))
        if not docs:
            return None
        return pipeline.rank_steps(self, checked_query, docs, metas, n)

    @staticmethod
    def _check_many(queries: Sequence[str], documents: Sequence[Sequence[str]]) -> None:
        if isinstance(queries, str):
            raise InvalidInputError("queries must be a sequence of str, not one str")
        if len(queries) != len(documents):
            raise InvalidInputError(
                f"got {len(queries)} queries but {len(documents)} candidate lists: "
                "pass one candidate list per query"
            )

    def _checked_scores(self, scores: Sequence[float], expected: int) -> list[float]:
        try:
            out = [float(s) for s in scores]
        except (TypeError, ValueError) as exc:
            raise BackendError(
                f"backend {self.backend!r} returned a score that is not a number ({exc})"
            ) from None
        if len(out) != expected:
            raise BackendError(
                f"backend {self.backend!r} returned {len(out)} scores for {expected} documents"
            )
        if any(math.isnan(s) for s in out):
            logger.warning(
                "backend %r returned NaN scores; those documents are ranked last", self.backend
            )
        return out


def describe(reranker: Reranker) -> dict[str, Any]:
    """A JSON-friendly description of a reranker (no secrets)."""
    return {
        "backend": reranker.backend,
        "model": reranker.model,
        "top_n": reranker.top_n,
        "score_type": reranker.score_type.value,
    }
