"""The served models: each a reranker built from a spec, ranked through the usual pipeline,
with the backend calls of local models going through a :class:`~.batcher.PairBatcher`.

:func:`build_models` turns ``{name: spec}`` into :class:`ServedModel` objects;
:meth:`ServedModel.rank` runs :func:`rag_rerankers.controls.pipeline.rank_steps` (fallback
chains, cache, ``long_docs``, thresholds, ``top_n``) with its own async driver.

Example:
    >>> import asyncio
    >>> models = build_models({"lexical": "bm25?top_n=1"})
    >>> items = asyncio.run(models["lexical"].rank("red apple", ["blue sky", "red apple"]))
    >>> [(i.index, i.rank) for i in items]
    [(1, 1)]
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.base import UNSET, Reranker
from rag_rerankers.controls import pipeline
from rag_rerankers.factory import init_reranker
from rag_rerankers.serve.batcher import PairBatcher, batch_scorer
from rag_rerankers.serve.settings import ServeSettings
from rag_rerankers.types import RankedItem

Observer = Callable[[str, int, int], None]
"""``(model name, requests, pairs)`` after each merged batch."""


@dataclass
class ServedModel:
    """One named reranker of a server, with a batcher per local model of its chain."""

    name: str
    reranker: Reranker
    batchers: dict[int, PairBatcher] = field(default_factory=dict)
    on_cache: Callable[[int, int], None] | None = None

    @property
    def top_n(self) -> int | None:
        return self.reranker.top_n

    def describe(self) -> dict[str, Any]:
        chain: list[Any] = [self.reranker, *self.reranker.ranking_setup.fallbacks]
        return {
            "id": self.name,
            "object": "model",
            "owned_by": "rag-rerankers",
            "backend": self.reranker.backend,
            "model": self.reranker.model,
            "chain": [r.name for r in chain],
            "top_n": self.top_n,
            "batching": bool(self.batchers),
        }

    async def rank(
        self, query: str, documents: Sequence[str], top_n: int | None | object = UNSET
    ) -> list[RankedItem]:
        """Rank like :meth:`Reranker.arank` (``top_n``: ``UNSET`` keeps the spec's), with the
        local models' scoring shared with concurrent requests."""
        steps = self.reranker._steps(query, documents, top_n, None)
        if steps is None:
            return []
        return await self._drive(steps)

    async def _drive(self, steps: pipeline.Steps) -> list[RankedItem]:
        try:
            request = next(steps)
            while True:
                try:
                    batcher = self.batchers.get(id(request.scorer))
                    if request.top_n is not None:
                        scores: Any = await request.scorer._ascore_top(
                            request.query, request.texts, request.top_n
                        )
                    elif batcher is not None:
                        scores = await batcher.score(request.query, request.texts)
                    else:
                        scores = await request.scorer._ascore(request.query, request.texts)
                except Exception as exc:  # the pipeline applies on_error / fallbacks
                    request = steps.throw(exc)
                else:
                    request = steps.send(scores)
        except StopIteration as stop:
            result: list[RankedItem] = stop.value
            return result

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()


class CountingCache:
    """A score cache that reports hits and misses (for ``/metrics``), else the cache it wraps."""

    def __init__(self, inner: Any, record: Callable[[int, int], None]) -> None:
        self.inner = inner
        self._record = record

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        found = self.inner.get_many(keys)
        self._record(len(found), len(keys) - len(found))
        return found

    def set_many(self, items: Mapping[str, Any]) -> None:
        self.inner.set_many(items)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def build_models(
    specs: Mapping[str, Any],
    settings: ServeSettings | None = None,
    *,
    on_batch: Observer | None = None,
    on_cache: Callable[[str, int, int], None] | None = None,
) -> dict[str, ServedModel]:
    """Build every named spec (config string, dict or ready :class:`Reranker`) once."""
    settings = settings or ServeSettings()
    out: dict[str, ServedModel] = {}
    for name, spec in specs.items():
        reranker = spec if isinstance(spec, Reranker) else init_reranker(spec)
        served = ServedModel(name, reranker)
        setup = reranker.ranking_setup
        if setup.cache is not None and on_cache is not None:
            record = _bind(on_cache, name)
            # RankingSetup is frozen: swap in a copy whose cache counts hits.
            reranker._ranking = dataclasses.replace(setup, cache=CountingCache(setup.cache, record))
        if settings.batching:
            for scorer in (reranker, *reranker.ranking_setup.fallbacks):
                groups = batch_scorer(scorer)
                if groups is None:
                    continue
                observe = None if on_batch is None else _bind(on_batch, name)
                served.batchers[id(scorer)] = PairBatcher(
                    groups, max_wait=settings.max_wait_ms / 1000,
                    max_pairs=settings.max_batch_pairs, observe=observe,
                )
        out[name] = served
    return out


def _bind(fn: Callable[..., None], name: str) -> Callable[[int, int], None]:
    return lambda a, b: fn(name, a, b)


async def close_models(models: Mapping[str, ServedModel]) -> None:
    await asyncio.gather(*(m.close() for m in models.values()))
