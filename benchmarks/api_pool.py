"""Connection pool size against concurrency: ``max_connections`` 100 (the default) vs 1,000.

1,000 single-query calls at concurrency 1,000 through ``arank_many``, against the fake Jina
server in a child process answering after ``--latency`` seconds (50 ms by default). With a
pool of 100, at most 100 requests are in flight and the rest wait for a connection; with a pool
as large as the concurrency they all go out at once. Both settings are timed side by side in
one run (medians of ``--repeats``); the ratio is what to read on a shared machine.

Run: ``python benchmarks/api_pool.py [--calls 1000] [--latency 0.05] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api_concurrency import KEY, ServerProcess  # noqa: E402

from rag_rerankers import init_reranker  # noqa: E402


def timed(url: str, connections: int, calls: int) -> float:
    rr = init_reranker("jina", api_key=KEY, base_url=url, max_retries=0,
                       max_connections=connections)
    queries = [f"query {i} red apple" for i in range(calls)]
    docs = [["a red apple", "blue sky", "green pear"]] * calls

    async def run() -> float:
        start = time.perf_counter()
        await rr.arank_many(queries, docs, concurrency=calls)
        took = time.perf_counter() - start
        await rr.aclose()
        return took

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[float]] = {100: [], args.calls: []}
    with ServerProcess(args.latency, False) as url:
        for _ in range(args.repeats):
            for connections in results:  # interleaved, so drift hits both alike
                results[connections].append(timed(url, connections, args.calls))
    small, large = (statistics.median(results[c]) for c in results)
    print(f"{args.calls} calls at concurrency {args.calls}, {args.latency * 1000:.0f} ms latency")
    print(f"  max_connections=100:         {small:6.2f} s (median of {args.repeats})")
    print(f"  max_connections={args.calls:<12} {large:6.2f} s")
    print(f"  ratio: {small / large:.1f}x faster with a pool as large as the concurrency")


if __name__ == "__main__":
    main()
