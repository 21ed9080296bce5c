"""Reliability under load and faults: threads sharing one model, memory over many calls,
concurrent async reranks and injected provider faults.

Each scenario is a function of ``rag_rerankers.testing.load`` that returns a dict of figures;
``tests/reliability/test_reliability_load.py`` and ``test_reliability_faults.py`` run the same
functions at CI size and assert on them, and this script runs them at full size and prints the
figures:

- ``threads``: 8 threads share one local model (one ``Reranker``, one loaded model) in a
  sustained run; every result must equal the serial run's, no exception.
- ``memory``: 10 000 reranks alternating the core, the LangChain compressor and the LlamaIndex
  postprocessor; traced Python memory and RSS after a warm-up vs at the end.
- ``async``: 1 000 concurrent ``arank`` calls against the fake provider server with a bound on
  concurrency; the peak number in flight, throughput and per-call latency.
- ``faults``: 1 000 requests while the fake server injects 30% faults (429 with Retry-After,
  500, 503, read timeouts, connection resets, and malformed JSON); with retries, with retries
  off, and with a fallback chain when available.

Run: ``python benchmarks/reliability_load.py [--only threads,memory,memory-local,async,faults]
[--quick] [--local-calls 1000]`` (``memory`` includes ``memory-local``).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag_rerankers import init_reranker  # noqa: E402
from rag_rerankers.testing.load import (  # noqa: E402
    async_concurrent,
    faults,
    memory_over_calls,
    threads_shared_model,
)
from tests.reliability.helpers import adapter_surfaces  # noqa: E402 - the adapters' surfaces


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="threads,memory,async,faults")
    parser.add_argument("--quick", action="store_true", help="CI sizes (a smoke run)")
    parser.add_argument("--model", default="embedding?offline=true",
                        help="local reranker for the threads and memory scenarios")
    parser.add_argument("--local-calls", type=int, default=1_000,
                        help="calls of the local-model memory run (slow on a busy machine)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    quick = args.quick

    def show(name: str, fig: dict[str, Any]) -> None:
        fig = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in fig.items()
               if k != "fallback_results"}
        print(f"== {name}\n{json.dumps(fig, indent=1, ensure_ascii=False)}", flush=True)

    if "threads" in only:
        rr = init_reranker(args.model)
        show("threads", threads_shared_model(rr, threads=8, rounds=2 if quick else 10,
                                             n_queries=4 if quick else 8))
    if "memory" in only:
        bm25 = init_reranker("bm25")
        show("memory (bm25)", memory_over_calls(bm25, surfaces=adapter_surfaces(bm25),
                                                calls=1_000 if quick else 10_000))
    if "memory" in only or "memory-local" in only:
        local = init_reranker(args.model)
        with ThreadPoolExecutor(1) as pool:  # off the main thread: see threads_shared_model
            fig = pool.submit(memory_over_calls, local, surfaces=adapter_surfaces(local),
                              calls=40 if quick else args.local_calls,
                              warmup=20 if quick else 30, trace=False).result()
        show("memory (local model, RSS only)", fig)
    if "async" in only:
        show("async", async_concurrent(requests=200 if quick else 1_000))
    if "faults" in only:
        show("faults", faults(requests=100 if quick else 1_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
