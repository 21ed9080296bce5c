"""Load at CI size (full size: ``python benchmarks/reliability_load.py``).

- 8 threads share one local model: no error, every result equal to the serial run's;
- memory stays flat over many calls through the core and both adapters;
- concurrent async reranks against the fake server never exceed the concurrency bound and
  all come back right.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from rag_rerankers import init_reranker
from rag_rerankers.testing.load import (
    async_concurrent,
    memory_over_calls,
    threads_shared_model,
)

from reliability.helpers import adapter_surfaces


def test_eight_threads_share_one_local_model(minilm) -> None:
    fig = threads_shared_model(minilm, threads=8, rounds=1, n_queries=4, n_docs=8)
    assert fig["errors"] == 0, fig["first_error"]
    assert fig["completed"] == fig["calls"] == 32
    assert fig["mismatches"] == 0


def test_eight_threads_share_one_bm25_reranker() -> None:
    fig = threads_shared_model(init_reranker("bm25"), threads=8, rounds=10, n_queries=8)
    assert (fig["errors"], fig["mismatches"], fig["completed"]) == (0, 0, 640)


def test_memory_is_flat_over_many_calls() -> None:
    # pytest keeps every captured log record (bm25s logs at DEBUG on each call): that
    # would be pytest's memory, not ours, so no records are made during the measurement.
    logging.disable(logging.INFO)
    try:
        rr = init_reranker("bm25")
        fig = memory_over_calls(rr, surfaces=adapter_surfaces(rr), calls=1_200, warmup=300)
    finally:
        logging.disable(logging.NOTSET)
    # Python objects still alive after 1 200 calls through core, arank, LangChain and
    # LlamaIndex: a leak of even one small object per call would show as >= 100 KiB.
    assert fig["traced_growth_kib"] < 96, fig
    assert fig["rss_growth_mib"] < 16, fig


def test_memory_is_flat_with_a_local_model(minilm) -> None:
    # In a worker thread, like the threads test: on a busy 2-core runner torch's intra-op
    # threads make main-thread calls several times slower.
    with ThreadPoolExecutor(1) as pool:
        fig = pool.submit(
            memory_over_calls, minilm, surfaces=adapter_surfaces(minilm), calls=24, warmup=12,
            n_docs=4, trace=False
        ).result()
    assert fig["rss_growth_mib"] < 32, fig


def test_concurrent_async_reranks_are_bounded_and_correct() -> None:
    fig = async_concurrent(requests=200, concurrency=16, n_docs=10, latency=0.01)
    assert fig["wrong_rankings"] == 0
    assert fig["server_requests"] == 400  # arank_many, then a caller-bounded gather
    assert fig["peak_in_flight_arank_many"] == 16
    assert fig["peak_in_flight_gather"] == 16


def test_asyncio_run_per_call_does_not_leak_clients() -> None:
    """Sync code often calls ``asyncio.run(rr.arank(...))``: a new event loop each time.

    API backends keep one async client per loop; a client refers to its loop, so clients of
    closed loops must be dropped explicitly (before the fix: ~22 KiB held per call).
    """
    import asyncio
    import gc
    import tracemalloc
    import warnings

    from rag_rerankers.testing import FakeRerankServer

    logging.disable(logging.CRITICAL)  # aiohttp reports each dropped session at ERROR
    try:
        with FakeRerankServer(api_key="k", record=False) as server, warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for backend in ("jina", "voyage"):
                rr = init_reranker(backend, api_key="k", base_url=server.base_url(backend),
                                   max_retries=0)
                for _ in range(20):
                    asyncio.run(rr.arank("a b", ["a", "b"]))
                gc.collect()
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
                for _ in range(150):
                    asyncio.run(rr.arank("a b", ["a", "b"]))
                gc.collect()
                growth = tracemalloc.get_traced_memory()[0] - before
                tracemalloc.stop()
                assert len(rr._aclients) <= 1, backend
                assert growth < 1_000_000, (backend, growth)  # was ~3.3 MB for 150 calls
    finally:
        logging.disable(logging.NOTSET)
