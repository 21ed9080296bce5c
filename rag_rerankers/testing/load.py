"""Reliability scenarios under load and faults, shared by the tests and the benchmark.

Each scenario is a function that returns a dict of figures. The tests
(``tests/reliability/test_reliability_load.py`` and ``test_reliability_faults.py``) run them
at CI size and assert on the figures; ``benchmarks/reliability_load.py`` runs them at full
size and prints them:

- ``threads_shared_model``: threads share one local model (one ``Reranker``, one loaded
  model) in a sustained run; every result must equal the serial run's, no exception.
- ``memory_over_calls``: reranks alternating the core, the LangChain compressor and the
  LlamaIndex postprocessor; traced Python memory and RSS after a warm-up vs at the end.
- ``async_concurrent``: concurrent ``arank`` calls against the fake provider server with a
  bound on concurrency; the peak number in flight, throughput and per-call latency.
- ``faults``: requests while the fake server injects faults (429 with Retry-After, 500, 503,
  read timeouts, connection resets, and malformed JSON); with retries, with retries off, and
  with a fallback chain.

``memory_over_calls`` takes the adapters' ways of ranking as ``surfaces`` from its caller (this
core module imports no framework).
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rag_rerankers import init_reranker
from rag_rerankers.base import Reranker

KEY = "sk-load-0000"
WORDS = ["apple", "pear", "bicycle", "chain", "gear", "wheel", "bread", "flour", "yeast", "oven", "weather", "sunny", "rain", "cloud", "train", "station", "ticket", "river", "bridge", "mountain", "snow", "vaccine", "immune", "cell", "protein", "energy"]


def corpus(n_queries: int, n_docs: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Deterministic queries and candidate lists of short sentences over a small vocabulary."""
    rnd = random.Random(seed)
    queries = [" ".join(rnd.sample(WORDS, 3)) for _ in range(n_queries)]
    docs = [
        [" ".join(rnd.choices(WORDS, k=rnd.randint(4, 14))) for _ in range(n_docs)]
        for _ in range(n_queries)
    ]
    return queries, docs


def _key(items: list[Any]) -> list[tuple[int, float]]:
    return [(i.index, i.score) for i in items]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# --------------------------------------------------------------------------- threads
def threads_shared_model(
    rr: Reranker, *, threads: int = 8, rounds: int = 5, n_queries: int = 8, n_docs: int = 20
) -> dict[str, Any]:
    """``threads`` threads rerank the same queries ``rounds`` times each with one reranker."""
    queries, docs = corpus(n_queries, n_docs, seed=1)

    def serial_run() -> tuple[list[list[tuple[int, float]]], float]:
        # Warm-up pass: a model's first call at each input shape is much slower, and the
        # threaded run below only ever sees warm shapes.
        for q, d in zip(queries, docs, strict=True):
            rr.rank(q, d)
        start = time.perf_counter()
        out = [_key(rr.rank(q, d, top_n=None)) for q, d in zip(queries, docs, strict=True)]
        return out, time.perf_counter() - start

    # The serial run also happens in a worker thread, like the threaded run (on a busy
    # machine torch's intra-op threads slow main-thread calls down).
    with ThreadPoolExecutor(1) as pool:
        serial, serial_s = pool.submit(serial_run).result()
    mismatches = 0
    errors: list[str] = []
    lock = threading.Lock()

    def worker(seed: int) -> int:
        nonlocal mismatches
        order = list(range(n_queries)) * rounds
        random.Random(seed).shuffle(order)  # threads interleave different queries
        done = 0
        for j in order:
            try:
                got = _key(rr.rank(queries[j], docs[j], top_n=None))
            except Exception as exc:  # counted, reported, asserted on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if got != serial[j]:
                with lock:
                    mismatches += 1
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        calls = sum(pool.map(worker, range(threads)))
    threaded_s = time.perf_counter() - start
    return {
        "backend": rr.name,
        "threads": threads,
        "calls": threads * rounds * n_queries,
        "completed": calls,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "mismatches": mismatches,
        "serial_calls_per_s": n_queries / serial_s,
        "threaded_calls_per_s": calls / threaded_s,
        "threaded_s": threaded_s,
    }


# --------------------------------------------------------------------------- memory
def _rss_mib() -> float:
    import resource  # POSIX only: imported when measuring, not with the module

    try:  # current RSS (Linux); ru_maxrss is the peak, not the current value
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_over_calls(
    rr: Reranker,
    *,
    surfaces: Sequence[Callable[[str, list[str]], Any]] = (),
    calls: int = 10_000,
    warmup: int = 500,
    n_docs: int = 10,
    trace: bool = True,
) -> dict[str, Any]:
    """Traced memory and RSS after ``warmup`` calls vs after ``calls`` more.

    Calls alternate ``rank``, ``arank`` (now and then in a fresh event loop, as ``asyncio.run``
    does) and each of ``surfaces``: other ways to rank a query's texts, such as the LangChain
    compressor and the LlamaIndex postprocessor around ``rr``. ``trace=False`` measures RSS
    only (tracemalloc slows a local model's Python side a lot).
    """
    queries, docs = corpus(50, n_docs, seed=2)

    def arank(query: str, texts: list[str], k: int) -> Any:
        if k % 40 == 1:  # now and then a fresh event loop, as asyncio.run does
            return asyncio.run(rr.arank(query, texts, top_n=3))
        return rr.rank(query, texts)

    ways: list[Callable[[str, list[str], int], Any]] = [
        lambda q, d, k: rr.rank(q, d, top_n=3), arank,
        *[lambda q, d, k, way=way: way(q, d) for way in surfaces],
    ]

    def one(k: int) -> None:
        j = k % len(queries)
        ways[k % len(ways)](queries[j], docs[j], k)

    for k in range(warmup):
        one(k)
    gc.collect()
    if trace:
        tracemalloc.start()
    traced = (lambda: tracemalloc.get_traced_memory()[0]) if trace else (lambda: 0)
    rss0 = _rss_mib()
    traced0 = traced()
    checkpoints, rss_points = [], []
    start = time.perf_counter()
    for k in range(calls):
        one(k)
        if (k + 1) % max(1, calls // 4) == 0:
            gc.collect()
            checkpoints.append(traced() - traced0)
            rss_points.append(_rss_mib() - rss0)
    elapsed = time.perf_counter() - start
    gc.collect()
    traced1 = traced()
    if trace:
        tracemalloc.stop()
    rss1 = _rss_mib()
    return {
        "backend": rr.name,
        "calls": calls,
        "calls_per_s": calls / elapsed,
        "traced_growth_kib": (traced1 - traced0) / 1024 if trace else None,
        "traced_checkpoints_kib": [round(c / 1024, 1) for c in checkpoints] if trace else None,
        "rss_start_mib": rss0,
        "rss_growth_mib": rss1 - rss0,
        "rss_checkpoints_mib": [round(r, 2) for r in rss_points],
    }


# --------------------------------------------------------------------------- async
async def _async_load(
    rr: Any, queries: list[str], docs: list[list[str]], concurrency: int
) -> dict[str, Any]:
    in_flight = 0
    peak = 0
    original = rr._acall  # the one network call per request (after splitting)

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(*args, **kwargs)
        finally:
            in_flight -= 1

    rr._acall = counting
    latencies: list[float] = []

    async def timed(q: str, d: list[str]) -> list[Any]:
        t0 = time.perf_counter()
        out = await rr.arank(q, d, top_n=None)
        latencies.append(time.perf_counter() - t0)
        return out

    sem = asyncio.Semaphore(concurrency)

    async def bounded(q: str, d: list[str]) -> list[Any]:
        async with sem:
            return await timed(q, d)

    try:
        start = time.perf_counter()
        # 1. the library's own bound: arank_many(concurrency=...)
        many = await rr.arank_many(queries, docs, top_n=None, concurrency=concurrency)
        many_s = time.perf_counter() - start
        peak_many, peak = peak, 0
        # 2. all tasks created at once, bounded by the caller's semaphore
        start = time.perf_counter()
        gathered = await asyncio.gather(*(bounded(q, d) for q, d in zip(queries, docs, strict=True)))
        gather_s = time.perf_counter() - start
    finally:
        del rr._acall
        await rr.aclose()
    return {
        "many": [_key(x) for x in many],
        "gathered": [_key(x) for x in gathered],
        "peak_in_flight_arank_many": peak_many,
        "peak_in_flight_gather": peak,
        "arank_many_s": many_s,
        "gather_s": gather_s,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _pct(latencies, 0.99),
    }


def async_concurrent(
    *, requests: int = 1_000, concurrency: int = 32, n_docs: int = 20, latency: float = 0.02,
    backend: str = "cohere",
) -> dict[str, Any]:
    """``requests`` concurrent ``arank`` calls against the fake server, ``concurrency`` at most."""
    from rag_rerankers.testing import FakeRerankServer, lexical_score

    queries, docs = corpus(requests, n_docs, seed=3)
    with FakeRerankServer(api_key=KEY, latency=latency, record=False) as server:
        rr = init_reranker(backend, api_key=KEY, base_url=server.base_url(backend),
                           max_retries=0, timeout=10.0)
        out = asyncio.run(_async_load(rr, queries, docs, concurrency))
        served = server.request_count
    want = []
    for q, d in zip(queries, docs, strict=True):
        s = [lexical_score(q, x) for x in d]
        want.append(sorted(range(len(d)), key=lambda i, s=s: (-s[i], i)))
    wrong = sum(
        [i for i, _ in got] != w
        for results in (out["many"], out["gathered"])
        for got, w in zip(results, want, strict=True)
    )
    return {
        "backend": backend,
        "requests": requests,
        "concurrency": concurrency,
        "server_latency_s": latency,
        "server_requests": served,
        "wrong_rankings": wrong,
        "peak_in_flight_arank_many": out["peak_in_flight_arank_many"],
        "peak_in_flight_gather": out["peak_in_flight_gather"],
        "arank_many_req_per_s": requests / out["arank_many_s"],
        "gather_req_per_s": requests / out["gather_s"],
        "ideal_req_per_s": concurrency / latency,
        "p50_ms": out["p50_ms"],
        "p99_ms": out["p99_ms"],
    }


# --------------------------------------------------------------------------- faults
RETRYABLE_FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "status": 429, "retry_after": 0.01},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
    {"kind": "timeout"},  # the server answers only after 3 read timeouts
    {"kind": "reset"},
]
MALFORMED: dict[str, Any] = {"kind": "malformed"}


def _fault_stream(
    server: Any, slots: int, rate: float, kinds: list[dict[str, Any]], seed: int, timeout: float
) -> None:
    """Queue ``slots`` outcomes: a fault with probability ``rate``, else a no-op."""
    rnd = random.Random(seed)
    for _ in range(slots):
        if rnd.random() < rate:
            fault = dict(rnd.choice(kinds))
            if fault["kind"] == "timeout":
                fault["seconds"] = 3 * timeout
            server.inject(**fault)
        else:
            server.inject("latency", seconds=0.0)


def _served_faults(server: Any) -> int:
    return sum(r.fault not in (None, "latency") for r in server.requests)


async def _run_faulty(rr: Any, queries: list[str], docs: list[list[str]], concurrency: int):
    sem = asyncio.Semaphore(concurrency)

    async def one(q: str, d: list[str]) -> tuple[Any, float]:
        async with sem:
            t0 = time.perf_counter()
            try:
                out: Any = await rr.arank(q, d, top_n=None)
            except Exception as exc:
                out = exc
            return out, time.perf_counter() - t0

    try:
        return await asyncio.gather(*(one(q, d) for q, d in zip(queries, docs, strict=True)))
    finally:
        closer = getattr(rr, "aclose", None)
        if closer is not None:
            await closer()


def faults(
    *, requests: int = 1_000, rate: float = 0.3, concurrency: int = 32, n_docs: int = 10,
    read_timeout: float = 1.0, backend: str = "jina", seed: int = 7,
) -> dict[str, Any]:
    """Three runs of ``requests`` reranks while ``rate`` of the server's answers are faults."""
    from rag_rerankers.errors import RerankAPIError
    from rag_rerankers.testing import FakeRerankServer, lexical_score

    queries, docs = corpus(requests, n_docs, seed=seed)
    want = []
    for q, d in zip(queries, docs, strict=True):
        s = [lexical_score(q, x) for x in d]
        want.append(sorted(range(len(d)), key=lambda i, s=s: (-s[i], i)))
    # 10 retries: 11 faults in a row (0.3**11 ~ 2e-6 per request) is what it takes to fail.
    max_retries, backoff, max_backoff = 10, 0.01, 0.1
    # Worst case of one call: every attempt times out, plus the longest waits between them.
    bound_retries = (max_retries + 1) * (read_timeout + 0.05) + max_retries * max_backoff + 1.0
    bound_off = read_timeout + 1.0
    report: dict[str, Any] = {"backend": backend, "requests": requests, "fault_rate": rate,
                              "concurrency": concurrency, "read_timeout_s": read_timeout}

    def make(server: Any, retries: int) -> Any:
        return init_reranker(backend, api_key=KEY, base_url=server.base_url(backend),
                             max_retries=retries, backoff=backoff, max_backoff=max_backoff,
                             timeout=read_timeout, connect_timeout=read_timeout)

    def summarize(name: str, results: list[tuple[Any, float]], bound: float,
                  server: Any) -> dict[str, Any]:
        injected, served = _served_faults(server), server.request_count
        ok = [i for i, (out, _) in enumerate(results) if not isinstance(out, BaseException)]
        errors = [out for out, _ in results if isinstance(out, BaseException)]
        typed = [e for e in errors if isinstance(e, RerankAPIError)]
        correct = sum([i for i, _ in _key(results[k][0])] == want[k] for k in ok)
        times = [t for _, t in results]
        kinds: dict[str, int] = {}
        for e in errors:
            kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
        return {
            f"{name}_faults_injected": injected,
            f"{name}_server_requests": served,
            f"{name}_ok": len(ok),
            f"{name}_correct": correct,
            f"{name}_errors": len(errors),
            f"{name}_typed_errors": len(typed),
            f"{name}_error_kinds": kinds,
            f"{name}_max_call_s": max(times),
            f"{name}_p50_call_ms": 1000 * statistics.median(times),
            f"{name}_bound_s": bound,
        }

    # 1. retries on, retryable faults (malformed JSON is deliberately never retried: run 3)
    with FakeRerankServer(api_key=KEY) as server:
        _fault_stream(server, requests * 3, rate, RETRYABLE_FAULTS, seed, read_timeout)
        rr = make(server, max_retries)
        results = asyncio.run(_run_faulty(rr, queries, docs, concurrency))
        report.update(summarize("retries", results, bound_retries, server))
        server.clear_faults()
    # 2. retries off, every kind of fault including malformed JSON
    with FakeRerankServer(api_key=KEY) as server:
        _fault_stream(server, requests, rate, [*RETRYABLE_FAULTS, MALFORMED], seed, read_timeout)
        rr = make(server, 0)
        results = asyncio.run(_run_faulty(rr, queries, docs, concurrency))
        report.update(summarize("no_retries", results, bound_off, server))
        server.clear_faults()
    # 3. retries off + a local fallback (needs the ranking controls' fallback chains)
    if hasattr(Reranker, "configure"):
        with FakeRerankServer(api_key=KEY) as server:
            _fault_stream(server, requests, rate, [*RETRYABLE_FAULTS, MALFORMED], seed, read_timeout)
            rr = make(server, 0).configure(fallbacks=[init_reranker("bm25")], on_error="fallback")
            results = asyncio.run(_run_faulty(rr, queries, docs, concurrency))
            report.update(summarize("fallback", results, bound_off, server))
            by: dict[str, int] = {}
            primary_correct = 0
            for k, (out, _) in enumerate(results):
                if not isinstance(out, BaseException) and out:
                    names = {str(item.metadata.get("reranked_by")) for item in out}
                    name = names.pop() if len(names) == 1 else f"mixed {sorted(names)}"
                    by[name] = by.get(name, 0) + 1
                    if name == rr.name:
                        primary_correct += [i for i, _ in _key(out)] == want[k]
            report["fallback_reranked_by"] = by
            report["fallback_primary_correct"] = primary_correct
            report["fallback_results"] = results  # for the tests' checks; not printed
            server.clear_faults()
    return report
