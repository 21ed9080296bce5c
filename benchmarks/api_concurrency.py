"""API concurrency benchmark: 64 queries x 100 candidates against the fake Cohere server.

Three ways to rerank the same batch, timed side by side in one run (medians of ``--repeats``):

1. ``langchain_cohere.CohereRerank.compress_documents`` called in a loop (what most RAG code does);
2. a hand-written ``asyncio.gather`` over the bare ``cohere.AsyncClientV2`` with a semaphore of 16;
3. ours: ``init_reranker("cohere", ...).arank_many(..., concurrency=16)``.

The fake server adds ``--latency`` seconds (200 ms by default, a realistic provider latency for
100 documents) and runs in a child process, so its CPU time does not share the GIL with the
clients. Queries are TREC DL 2019 (43 of them, cycled up to ``--queries``) with their BM25 top
100 passages, read from ``../shared/data/trec-dl19`` relative to the repository root.

Also prints our per-call overhead over one direct SDK call: sequential calls with no injected
latency, ours and the bare SDK interleaved, median difference per call.

Run: ``python benchmarks/api_concurrency.py [--repeats 3] [--latency 0.2]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_REL = Path("shared") / "data" / "trec-dl19" / "bm25_top100_dl19.json"
# ../shared from the repository root (a git worktree one level deeper also finds it)
DATA = next((p / _REL for p in (ROOT.parent, ROOT.parent.parent) if (p / _REL).exists()),
            ROOT.parent / _REL)
KEY = "bench-key"
MODEL = "rerank-v5.0-pro"
TOP_N = 10


def _serve(latency: float, conn: mp.connection.Connection) -> None:
    from rag_rerankers.testing import FakeRerankServer

    with FakeRerankServer(api_key=KEY, latency=latency, record=False) as server:
        conn.send(server.port)
        conn.recv()  # wait for "stop"


class ServerProcess:
    """The fake server in a child process (its own GIL), or in this process's thread."""

    def __init__(self, latency: float, in_process: bool = False) -> None:
        self._in_process = in_process
        if in_process:
            from rag_rerankers.testing import FakeRerankServer

            self._server = FakeRerankServer(api_key=KEY, latency=latency, record=False)
            return
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(latency, child), daemon=True)

    def __enter__(self) -> str:
        if self._in_process:
            return self._server.start().url
        self._proc.start()
        port = self._conn.recv()
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        if self._in_process:
            self._server.stop()
            return
        self._conn.send("stop")
        self._proc.join(timeout=10)


def load(n_queries: int) -> tuple[list[str], list[list[str]]]:
    if not DATA.exists():
        sys.exit(f"TREC DL19 data not found at {DATA}")
    data = json.loads(DATA.read_text())
    picked = [data[i % len(data)] for i in range(n_queries)]
    return [q["query"] for q in picked], [[h["content"] for h in q["hits"][:100]] for q in picked]


def bench_langchain(url: str, queries: list[str], docs: list[list[str]]) -> float:
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document

    comp = CohereRerank(cohere_api_key=KEY, model=MODEL, base_url=url, top_n=TOP_N)
    batches = [[Document(page_content=t) for t in d] for d in docs]
    start = time.perf_counter()
    for q, batch in zip(queries, batches, strict=True):
        comp.compress_documents(batch, q)
    return time.perf_counter() - start


async def bench_bare(client, queries: list[str], docs: list[list[str]], limit: int) -> float:
    semaphore = asyncio.Semaphore(limit)

    async def one(q: str, d: list[str]):
        async with semaphore:
            return await client.rerank(model=MODEL, query=q, documents=d, top_n=TOP_N)

    start = time.perf_counter()
    await asyncio.gather(*(one(q, d) for q, d in zip(queries, docs, strict=True)))
    return time.perf_counter() - start


async def bench_ours(rr, queries: list[str], docs: list[list[str]], limit: int) -> float:
    start = time.perf_counter()
    await rr.arank_many(queries, docs, concurrency=limit)
    return time.perf_counter() - start


async def overhead(
    url: str, query: str, docs: list[str], calls: int
) -> tuple[float, float, float]:
    """Per call, no injected latency: (bare SDK median, ours median, median paired difference).

    Calls alternate which of the two goes first, and the difference is taken pair by pair,
    so scheduling noise of the 2-core machine cancels out as far as possible.
    """
    import cohere

    from rag_rerankers import init_reranker

    client = cohere.AsyncClientV2(api_key=KEY, base_url=url)
    rr = init_reranker("cohere", model=MODEL, api_key=KEY, base_url=url, top_n=TOP_N)

    async def bare_call() -> float:
        t0 = time.perf_counter()
        await client.rerank(model=MODEL, query=query, documents=docs, top_n=TOP_N)
        return time.perf_counter() - t0

    async def ours_call() -> float:
        t0 = time.perf_counter()
        await rr.arank(query, docs)
        return time.perf_counter() - t0

    for _ in range(20):  # warm up connections and imports
        await bare_call()
        await ours_call()
    bare_t, ours_t = [], []
    for i in range(calls):
        if i % 2:
            b, o = await bare_call(), await ours_call()
        else:
            o, b = await ours_call(), await bare_call()
        bare_t.append(b)
        ours_t.append(o)
    await rr.aclose()
    diffs = [o - b for o, b in zip(ours_t, bare_t, strict=True)]
    return statistics.median(bare_t), statistics.median(ours_t), statistics.median(diffs)


async def run_async(url: str, args: argparse.Namespace, queries, docs) -> dict[str, list[float]]:
    import cohere

    from rag_rerankers import init_reranker

    client = cohere.AsyncClientV2(api_key=KEY, base_url=url)
    rr = init_reranker("cohere", model=MODEL, api_key=KEY, base_url=url, top_n=TOP_N)
    # Warm-up: open the connection pools of both clients.
    await bench_bare(client, queries[:16], docs[:16], args.concurrency)
    await bench_ours(rr, queries[:16], docs[:16], args.concurrency)
    times: dict[str, list[float]] = {"bare": [], "ours": []}
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        times["bare"].append(await bench_bare(client, queries, docs, args.concurrency))
        times["ours"].append(await bench_ours(rr, queries, docs, args.concurrency))
    await rr.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--langchain-repeats", type=int, default=1,
                        help="the sequential loop takes queries x latency; 1 run by default")
    parser.add_argument("--overhead-calls", type=int, default=1000)
    parser.add_argument("--in-process", action="store_true",
                        help="run the fake server in a thread of this process (shares the GIL)")
    args = parser.parse_args()
    queries, docs = load(args.queries)
    print(f"{len(queries)} queries x {len(docs[0])} candidates, fake Cohere v2 server with "
          f"{args.latency * 1000:.0f} ms latency "
          f"({'in-process thread' if args.in_process else 'child process'}), "
          f"concurrency {args.concurrency}")

    with ServerProcess(args.latency, args.in_process) as url:
        times = asyncio.run(run_async(url, args, queries, docs))
        bench_langchain(url, queries[:2], docs[:2])  # warm-up
        times["langchain"] = [bench_langchain(url, queries, docs)
                              for _ in range(args.langchain_repeats)]
    med = {k: statistics.median(v) for k, v in times.items()}
    c = args.concurrency

    def line(label: str, value: str) -> None:
        print(f"{label:<40}: {value}")

    def runs(key: str) -> str:
        return f"{med[key]:8.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times[key])})"

    line("langchain_cohere.CohereRerank loop", runs("langchain"))
    line(f"bare AsyncClientV2 + gather (sem {c})", runs("bare"))
    line(f"ours arank_many(concurrency={c})", runs("ours"))
    line("speed-up ours vs LangChain loop", f"{med['langchain'] / med['ours']:8.2f}x (goal >= 7x)")
    line("speed-up bare SDK vs LangChain loop", f"{med['langchain'] / med['bare']:8.2f}x")
    line("ours / bare SDK time", f"{med['ours'] / med['bare']:8.3f} "
         f"({(med['ours'] / med['bare'] - 1) * 100:+.1f}%, goal <= +10%)")

    with ServerProcess(0.0, args.in_process) as url:
        bare, ours, diff = asyncio.run(overhead(url, queries[0], docs[0], args.overhead_calls))
    line("one call, 100 docs, no latency, bare SDK", f"{bare * 1000:8.3f} ms (median)")
    line("one call, 100 docs, no latency, ours", f"{ours * 1000:8.3f} ms (median)")
    line("our overhead per call", f"{diff * 1000:+8.3f} ms (median of {args.overhead_calls} "
         "paired, alternating calls; goal < 1 ms)")


if __name__ == "__main__":
    main()
