"""Result cache speedup: the same query and candidates reranked again, with and without the cache.

Reads TREC DL19 (BM25 top-100 per query) from ../shared/data/trec-dl19/ relative to the repo
root; falls back to the bundled sample corpus when it is absent. Both rerankers are built from
the same config string (only ``cache=memory`` differs) and timed side by side in one run.

Usage:
    HF_HUB_OFFLINE=1 python benchmarks/cache_speedup.py [--reranker SPEC] [--queries 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from rag_rerankers import init_reranker  # noqa: E402

# ../shared relative to the repo root (a git worktree one level deeper also finds it).
TREC = next(
    (
        base / "shared" / "data" / "trec-dl19" / "bm25_top100_dl19.json"
        for base in (ROOT.parent, ROOT.parent.parent)
        if (base / "shared" / "data" / "trec-dl19" / "bm25_top100_dl19.json").exists()
    ),
    ROOT.parent / "shared" / "data" / "trec-dl19" / "bm25_top100_dl19.json",
)


def load_queries(n: int) -> tuple[str, list[tuple[str, list[str]]]]:
    if TREC.exists():
        data = json.loads(TREC.read_text())
        return "TREC DL19 BM25 top-100", [
            (q["query"], [h["content"] for h in q["hits"]]) for q in data[:n]
        ]
    sample = json.loads((ROOT / "rag_rerankers" / "data" / "sample_corpus.json").read_text())
    docs = [d["text"] for d in sample["documents"]]
    queries = [q["text"] for q in sample["queries"]]
    return "bundled sample corpus", [(q, docs) for q in queries[:n]]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", default="embedding?offline=true")
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    source, queries = load_queries(args.queries)
    sep = "&" if "?" in args.reranker else "?"
    plain = init_reranker(args.reranker)
    cached = init_reranker(f"{args.reranker}{sep}cache=memory")
    plain.rank(queries[0][0], queries[0][1][:4])  # load the model once, outside the timings

    uncached_times, hit_times = [], []
    for query, docs in queries:
        want = [(i.index, i.score) for i in plain.rank(query, docs)]
        cached.rank(query, docs)  # the first time fills the cache
        for _ in range(args.repeats):
            # Side by side: one uncached and one cached call of the same query, alternating.
            uncached_times.append(timed(lambda q=query, d=docs: plain.rank(q, d)))
            hit_times.append(timed(lambda q=query, d=docs: cached.rank(q, d)))
        got = [(i.index, i.score) for i in cached.rank(query, docs)]
        assert [i for i, _ in got] == [i for i, _ in want], "cached order differs"

    without = statistics.median(uncached_times)
    with_cache = statistics.median(hit_times)
    print(f"reranker: {args.reranker}   data: {source}")
    print(f"queries: {len(queries)} x {len(queries[0][1])} candidates, {args.repeats} repeats each")
    print(f"median without cache: {without * 1000:.2f} ms")
    print(f"median with cache (repeated query): {with_cache * 1000:.3f} ms")
    print(f"speedup: {without / with_cache:.0f}x")


if __name__ == "__main__":
    main()
