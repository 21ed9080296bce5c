"""Why ``rag-rerankers serve`` starts torch with ``OMP_WAIT_POLICY=PASSIVE``: cross-encoder
scoring at 2 torch threads, with OpenMP's default wait policy and with PASSIVE, on an idle
machine and with another process keeping one core busy.

OpenMP threads that finish an operation spin for a while before they sleep. When the process
shares its cores, the spinning threads take the core from the thread that runs the model. Each
case runs in its own process (OpenMP reads the variable once, when torch loads), all in one run:
a random-weight ms-marco-MiniLM-L-6-v2 cross-encoder scores 32 TREC DL19 requests of 20
passages, each request alone ("alone") and all 32 merged into one ``score_groups`` call
("merged", what the server's cross-request batching does). Prints docs/s, the median of
``--repeats`` passes, and the PASSIVE / default ratio.

Run from the repository root: ``python benchmarks/omp_wait_policy.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.local_throughput import DATA, build_model  # noqa: E402
from benchmarks.serve_throughput import make_requests  # noqa: E402


def child(folder: str, threads: int, repeats: int, requests: int) -> None:
    """One case, in this process: print ``{"alone": [...], "merged": [...]}`` docs/s."""
    import torch

    from rag_rerankers import init_reranker

    torch.set_num_threads(threads)
    reranker = init_reranker(f"cross-encoder:{folder}?offline=true")
    batch = make_requests(20)[:requests]
    reranker.score_groups(batch[:2])  # warm-up
    docs = sum(len(d) for _, d in batch)
    rates: dict[str, list[float]] = {"alone": [], "merged": []}
    for _ in range(repeats):
        for mode in rates:
            started = time.perf_counter()
            if mode == "alone":
                for group in batch:
                    reranker.score_groups([group])
            else:
                reranker.score_groups(batch)
            rates[mode].append(docs / (time.perf_counter() - started))
    print(json.dumps(rates))


def run_case(folder: Path, policy: str | None, load: bool, args: argparse.Namespace
             ) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(folder), "--threads", str(args.threads),
             "--repeats", str(args.repeats), "--requests", str(args.requests)],
            env=env, capture_output=True, text=True, check=True,
        )
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    rates = json.loads(out.stdout.strip().splitlines()[-1])
    return {mode: statistics.median(values) for mode, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.repeats, args.requests)
        return
    if not DATA.exists():
        sys.exit(f"TREC DL19 data not found at {DATA} (set TREC_DL19_DIR)")
    with tempfile.TemporaryDirectory(prefix="omp-bench-") as tmp:
        folder = build_model("ms-marco-MiniLM-L-6-v2", Path(tmp) / "minilm")
        print(f"{args.requests} requests x 20 DL19 passages, {args.threads} torch threads, "
              f"{os.cpu_count()} cores, median of {args.repeats}")
        print("| machine | scoring | default (docs/s) | PASSIVE (docs/s) | PASSIVE / default |")
        print("|---|---|---:|---:|---:|")
        for load in (False, True):
            default = run_case(folder, None, load, args)
            passive = run_case(folder, "PASSIVE", load, args)
            for mode in ("alone", "merged"):
                print(f"| {'one core busy' if load else 'idle'} | {mode} | {default[mode]:.1f} | "
                      f"{passive[mode]:.1f} | {passive[mode] / default[mode]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
