"""Cross-request batching: the pairs of concurrent requests share forward passes.

A local model runs one forward pass at a time (its lock), so concurrent requests scored one by
one each pay for their own, partly padded batches. A :class:`PairBatcher` instead queues each
request's ``(query, texts)``; its worker takes everything queued (waiting up to
``max_wait`` for more when only one request is there, at most ``max_pairs`` pairs), scores it
all with one call of the backend's ``score_groups`` -- which length-sorts the pairs of every
request together into forward passes under the backend's ``batch_size`` and ``batch_tokens``
-- and hands each request its own scores. This is what TEI and Infinity do.

The seam is the ranking pipeline's score requests (:mod:`rag_rerankers.controls.pipeline`):
the server drives the pipeline itself (:mod:`rag_rerankers.serve.engine`), so caches,
``long_docs``, fallbacks and thresholds apply as in :meth:`Reranker.rank`, and only the
backend call is shared.

Example:
    >>> import asyncio
    >>> calls = []
    >>> def score_groups(groups):
    ...     calls.append(len(groups))
    ...     return [[float(len(t)) for t in texts] for _, texts in groups]
    >>> async def main():
    ...     b = PairBatcher(score_groups, max_wait=0.01)
    ...     out = await asyncio.gather(b.score("q", ["a", "bb"]), b.score("q", ["ccc"]))
    ...     await b.close()
    ...     return out
    >>> asyncio.run(main()), calls  # one call held both requests
    ([[1.0, 2.0], [3.0]], [2])
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("rag_rerankers")

ScoreGroups = Callable[[Sequence[tuple[str, Sequence[str]]]], Sequence[Sequence[float]]]


@dataclass
class _Job:
    query: str
    texts: list[str]
    future: asyncio.Future[list[float]]


def batch_scorer(scorer: Any) -> ScoreGroups | None:
    """The scorer's ``score_groups`` (several requests' pairs in shared forward passes), or
    ``None`` when it has none (API backends, and local ones that score per query)."""
    method = getattr(scorer, "score_groups", None)
    return method if callable(method) else None


class PairBatcher:
    """Merge concurrent score requests for one model into shared ``score_groups`` calls.

    Args:
        score_groups: ``[(query, texts), ...] -> [scores, ...]``, run in a worker thread.
        max_wait: seconds an idle worker waits for a second request before running one alone.
        max_pairs: most pairs per call (a single larger request still runs, alone).
        observe: called with ``(requests, pairs)`` after each call (metrics).
    """

    def __init__(
        self,
        score_groups: ScoreGroups,
        *,
        max_wait: float = 0.002,
        max_pairs: int = 1024,
        observe: Callable[[int, int], None] | None = None,
    ) -> None:
        self._score_groups = score_groups
        self.max_wait = max_wait
        self.max_pairs = max_pairs
        self._observe = observe
        self._jobs: collections.deque[_Job] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self.calls = 0

    async def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Raw scores of ``texts`` for ``query``, computed with other requests' pairs."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run(), name="rag-rerankers-batcher")
        job = _Job(query, list(texts), loop.create_future())
        self._jobs.append(job)
        assert self._wakeup is not None
        self._wakeup.set()
        return await job.future

    async def close(self) -> None:
        """Stop the worker (after its current call); queued requests are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._jobs:
            self._jobs.popleft().future.cancel()

    def _take(self) -> list[_Job]:
        group: list[_Job] = []
        pairs = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # cancelled by its request (timeout, disconnect)
                self._jobs.popleft()
                continue
            if group and pairs + len(job.texts) > self.max_pairs:
                break
            group.append(self._jobs.popleft())
            pairs += len(job.texts)
        return group

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
            if len(self._jobs) == 1 and self.max_wait > 0:
                # Only one request: give concurrent ones a moment to join it.
                await asyncio.sleep(self.max_wait)
            group = self._take()
            if group:
                await self._run_group(group)

    async def _run_group(self, group: list[_Job]) -> None:
        pairs = sum(len(job.texts) for job in group)
        try:
            results = await asyncio.to_thread(
                self._score_groups, [(job.query, job.texts) for job in group]
            )
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0], exc=exc)
                return
            # One request's pairs may be what failed: score each alone, so only it fails.
            logger.debug("merged batch failed (%s); scoring its requests one by one", exc)
            for job in group:
                if job.future.done():
                    continue
                try:
                    (one,) = await asyncio.to_thread(self._score_groups, [(job.query, job.texts)])
                except Exception as single:
                    _settle(job, exc=single)
                else:
                    _settle(job, scores=list(one))
            return
        self.calls += 1
        if self._observe is not None:
            self._observe(len(group), pairs)
        for job, scores in zip(group, results, strict=True):
            _settle(job, scores=list(scores))


def _settle(job: _Job, *, scores: list[float] | None = None, exc: BaseException | None = None) -> None:
    if job.future.done():
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(scores if scores is not None else [])
