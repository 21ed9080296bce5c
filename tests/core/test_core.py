"""The Reranker base: one ranking code path for every backend."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag_rerankers import (
    BackendError,
    InvalidInputError,
    ModelNotFoundError,
    RankedItem,
    init_reranker,
)
from rag_rerankers.backends._local import length_sorted_batches
from rag_rerankers.models import ModelCache, resolve_model

from fakes import FixedReranker, OverlapReranker


def test_sorted_descending_ties_in_input_order() -> None:
    rr = FixedReranker([0.5, 0.9, 0.5, 0.1, 0.9])
    items = rr.rank("q", list("abcde"))
    assert [i.index for i in items] == [1, 4, 0, 2, 3]
    assert [i.rank for i in items] == [1, 2, 3, 4, 5]
    assert [i.document for i in items] == ["b", "e", "a", "c", "d"]
    assert all(isinstance(i.score, float) for i in items)


def test_nan_scores_go_last_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rr = FixedReranker([float("nan"), 1.0, -math.inf, 2.0])
    items = rr.rank("q", list("abcd"))
    assert [i.index for i in items] == [3, 1, 2, 0]
    assert math.isnan(items[-1].score)
    assert "NaN" in caplog.text


def test_wrong_number_of_scores_is_an_error() -> None:
    with pytest.raises(BackendError, match="returned 2 scores for 3 documents"):
        FixedReranker([1.0, 2.0]).rank("q", ["a", "b", "c"])


@pytest.mark.parametrize("top_n", [1, 2, 5, 100, None])
def test_top_n(top_n: int | None) -> None:
    rr = FixedReranker([3.0, 1.0, 2.0, 5.0, 4.0])
    items = rr.rank("q", list("abcde"), top_n=top_n)
    assert len(items) == min(top_n or 5, 5)
    assert [i.index for i in items] == [3, 4, 0, 2, 1][: len(items)]


def test_default_top_n_and_override() -> None:
    rr = FixedReranker([1.0, 2.0, 3.0], top_n=2)
    assert len(rr.rank("q", ["a", "b", "c"])) == 2
    assert len(rr.rank("q", ["a", "b", "c"], top_n=None)) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_bad_top_n(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="top_n must be None"):
        FixedReranker([1.0]).rank("q", ["a"], top_n=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        FixedReranker([1.0], top_n=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_rejected(query: str) -> None:
    with pytest.raises(InvalidInputError, match="query is empty"):
        OverlapReranker().rank(query, ["a"])


def test_non_string_inputs_are_rejected() -> None:
    rr = OverlapReranker()
    with pytest.raises(InvalidInputError, match="query must be a str"):
        rr.rank(None, ["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="document 1 is NoneType"):
        rr.rank("q", ["a", None])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="sequence of str"):
        rr.rank("q", "a single string")
    assert rr.calls == 0


def test_empty_candidates_never_call_the_backend() -> None:
    rr = OverlapReranker()
    assert rr.rank("q", []) == []
    assert asyncio.run(rr.arank("q", [])) == []
    assert rr.score("q", []) == []
    assert rr.calls == rr.acalls == 0


def test_inputs_are_not_mutated() -> None:
    docs = ["b c", "a", "c"]
    copy = list(docs)
    OverlapReranker().rank("c", docs)
    assert docs == copy


def test_score_is_aligned_with_input() -> None:
    assert FixedReranker([0.1, 0.7]).score("q", ["a", "b"]) == [0.1, 0.7]


def test_arank_equals_rank_and_uses_native_async() -> None:
    rr = OverlapReranker()
    docs = ["red apple", "green apple tree", "sky"]
    sync = rr.rank("apple tree", docs)
    asyn = asyncio.run(rr.arank("apple tree", docs))
    assert sync == asyn
    assert rr.acalls == 1


def test_rank_many_and_arank_many_keep_order() -> None:
    rr = OverlapReranker()
    queries = ["a", "b c", "d"]
    cands = [["a", "x"], ["c", "b c", "z"], ["q", "d"]]
    expected = [rr.rank(q, c) for q, c in zip(queries, cands, strict=True)]
    assert rr.rank_many(queries, cands) == expected
    assert asyncio.run(rr.arank_many(queries, cands, concurrency=2)) == expected
    with pytest.raises(InvalidInputError, match="one candidate list per query"):
        rr.rank_many(["a"], [])
    with pytest.raises(InvalidInputError, match="concurrency"):
        asyncio.run(rr.arank_many(queries, cands, concurrency=0))


def test_arank_many_bounds_concurrency() -> None:
    class Slow(OverlapReranker):
        active = 0
        peak = 0

        async def _ascore(self, query, documents):
            Slow.active += 1
            Slow.peak = max(Slow.peak, Slow.active)
            await asyncio.sleep(0.01)
            Slow.active -= 1
            return self._score(query, documents)

    rr = Slow()
    asyncio.run(rr.arank_many(["q"] * 20, [["q"]] * 20, concurrency=3))
    assert Slow.peak == 3


def test_default_arank_does_not_block_the_event_loop() -> None:
    class Blocking(FixedReranker):  # keeps the base class's default _ascore
        def _score(self, query, documents):
            time.sleep(0.3)
            return [0.0] * len(documents)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await Blocking([0.0]).arank("q", ["a"])
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 10


def test_ranked_item_is_frozen_and_printable() -> None:
    item = RankedItem(index=0, score=1.0, rank=1, document="x")
    with pytest.raises(AttributeError):
        item.score = 2.0  # type: ignore[misc]
    assert "score=1.0" in repr(item)


def test_repr_shows_no_options() -> None:
    rr = init_reranker("bm25?k1=1.1&top_n=3")
    assert repr(rr) == "BM25Reranker(backend='bm25', model=None, top_n=3)"


def test_model_cache_loads_once_under_concurrency() -> None:
    cache = ModelCache()
    loads = []
    barrier = threading.Barrier(8)

    def loader() -> object:
        loads.append(1)
        time.sleep(0.05)
        return object()

    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(cache.get("k", loader).model)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
    assert len({id(r) for r in results}) == 1
    assert cache.release("k") and not cache.release("k")
    cache.get("k", loader)
    assert len(loads) == 2


def test_model_cache_failed_load_can_be_retried() -> None:
    cache = ModelCache()

    def boom() -> object:
        raise OSError("nope")

    with pytest.raises(OSError):
        cache.get("k", boom)
    assert cache.get("k", lambda: 1).model == 1


def test_resolve_model(tmp_path) -> None:
    assert resolve_model(str(tmp_path)).local
    packaged = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert packaged.local and packaged.location.endswith("model")
    hub = resolve_model("org/some-model")
    assert not hub.local and hub.location == "org/some-model"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))


# ---------------------------------------------------------------- dynamic batching


@given(
    st.lists(st.integers(1, 600), max_size=60),
    st.integers(1, 40),
    st.one_of(st.none(), st.integers(1, 3000)),
)
def test_length_sorted_batches_partition_within_limits(lengths, batch_size, max_tokens) -> None:
    batches = list(length_sorted_batches(lengths, batch_size, max_tokens))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # each item exactly once
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)  # longest first
    for b in batches:
        assert 1 <= len(b) <= batch_size
        if max_tokens is not None and len(b) > 1:
            assert len(b) * max(lengths[i] for i in b) <= max_tokens
