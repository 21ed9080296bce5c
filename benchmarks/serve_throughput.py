"""`rag-rerankers serve` under load: 32 concurrent clients, 20-document requests of TREC DL19
passages, against a random-weight ms-marco-MiniLM-L-6-v2 cross-encoder (a model's speed does
not depend on its weights' values), all servers in one run on the same model folder:

- ours with cross-request batching (``rag-rerankers serve cross-encoder:<folder>``);
- ours without it (``--batching off``: each request scored on its own);
- Infinity (``infinity_emb v2 --engine torch --device cpu``, from its own virtual environment,
  ``INFINITY_BIN``; skipped with a note when absent), as it starts by default, and
  ``infinity-passive``: with ``OMP_WAIT_POLICY=PASSIVE``, which ours sets for itself.

Each server runs in its own process with ``T`` torch threads (``--threads``, default ``1,2``;
Infinity gets ``OMP_NUM_THREADS=T``); with ``--load`` (the default) another process keeps one
core busy while it is measured, as a server beside other work would be. Requests: every
query's BM25 top 100 cut into 5 requests of 20 (215 requests), sent through the Jina-style
``/v1/rerank`` route of ours and ``/rerank`` of Infinity (same body), 32 at a time.

For each thread count every server is started, then they are measured in turns (the order
rotating each round), so that a change in the machine's load hits all of them alike. Prints,
per thread count: docs/s (median of ``--repeats`` passes), p50 and p99 latency (of the median
pass), and the ratios the goals name: batching / no batching (goal >= 1.5x) and
batching / Infinity (goal >= 1x).

It first prints what merging can save at most where a forward pass costs the same per token
whatever the batch (a CPU): the padded tokens of the model's own length-sorted batches, for
each request scored alone and for merged calls of up to ``--max-batch-pairs`` pairs.

Run from the repository root: ``python benchmarks/serve_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.local_throughput import DATA, build_model, load_queries  # noqa: E402

INFINITY = Path(os.environ.get("INFINITY_BIN", "/work/infinity-venv/bin/infinity_emb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_requests(docs_per_request: int) -> list[tuple[str, list[str]]]:
    out = []
    for query, docs in load_queries(43, 100):
        for at in range(0, len(docs), docs_per_request):
            out.append((query, docs[at : at + docs_per_request]))
    return out


class Server:
    """One server process: ours (``batching`` True/False) or Infinity."""

    def __init__(self, kind: str, folder: Path, threads: int, max_batch_pairs: int | None = None,
                 device: str = "cpu", spec_options: str = "") -> None:
        self.kind = kind
        self.port = free_port()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        env.pop("OMP_WAIT_POLICY", None)  # each server's own default, unless named below
        if kind == "infinity-passive":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        if kind.startswith("infinity"):
            cmd = [str(INFINITY), "v2", "--model-id", str(folder), "--port", str(self.port),
                   "--engine", "torch", "--device", device.split(":")[0], "--no-bettertransformer",
                   "--served-model-name", "minilm"]
            self.path = "/rerank"
        else:
            spec = f"cross-encoder:{folder}?offline=true&device={device}" + (
                f"&{spec_options}" if spec_options else "")
            cmd = [sys.executable, "-m", "rag_rerankers", "serve", spec, "--model", f"minilm={spec}",
                   "--port", str(self.port), "--threads", str(threads), "--max-pending", "4096",
                   "--timeout", "900"]
            # say which one is measured (batching is on by default)
            cmd += ["--batching", "off" if kind == "ours-no-batching" else "on"]
            if max_batch_pairs:
                cmd += ["--max-batch-pairs", str(max_batch_pairs)]
            self.path = "/v1/rerank"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.log.seek(0)
        raise RuntimeError(f"{self.kind} did not start:\n{self.log.read().decode()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


async def drive(url: str, path: str, requests: list[tuple[str, list[str]]], clients: int
                ) -> tuple[float, list[float], list[list[float]]]:
    """Send every request, ``clients`` at a time; returns (seconds, latencies, scores)."""
    import httpx

    latencies: list[float] = []
    scores: list[list[float]] = [[] for _ in requests]
    queue = list(enumerate(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker() -> None:
            while queue:
                i, (query, docs) = queue.pop()
                started = time.perf_counter()
                r = await client.post(path, json={"model": "minilm", "query": query,
                                                  "documents": docs, "return_documents": False})
                latencies.append(time.perf_counter() - started)
                r.raise_for_status()
                got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
                scores[i] = [got[k] for k in range(len(docs))]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - started, latencies, scores


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def busy_core() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def padding(folder: Path, requests: list[tuple[str, list[str]]], max_pairs: int
              ) -> dict[str, float]:
    """Tokens scored (padding included) per real token: each request alone, and merged calls
    of whole requests up to ``max_pairs`` pairs, in the cross-encoder's own batches."""
    from rag_rerankers import init_reranker
    from rag_rerankers.backends.cross_encoder import encode_pairs

    reranker: Any = init_reranker(f"cross-encoder:{folder}?offline=true")
    runtime = reranker._loaded.model
    lengths = []
    for query, docs in requests:
        encoded, _ = encode_pairs(runtime.tokenizer, query, docs, reranker.max_length,
                                  runtime.input_names)
        lengths.append([len(ids) for ids in encoded["input_ids"]])

    def scored(groups: list[list[list[int]]]) -> int:
        total = 0
        for group in groups:
            flat = [n for request in group for n in request]
            total += sum(max(flat[i] for i in b) * len(b) for b in reranker.batches(flat))
        return total

    merged: list[list[list[int]]] = [[]]
    for request in lengths:
        if merged[-1] and sum(map(len, merged[-1])) + len(request) > max_pairs:
            merged.append([])
        merged[-1].append(request)
    real = sum(map(sum, lengths))
    return {"alone": scored([[r] for r in lengths]) / real, "merged": scored(merged) / real}


def measure_all(kinds: list[str], folder: Path, threads: int, requests: list, clients: int,
                repeats: int, load: bool, max_batch_pairs: int | None = None,
                device: str = "cpu", spec_options: str = "") -> list[dict[str, Any]]:
    """Start every system's server (idle ones use no CPU), then measure them in turns, the
    order rotating each round, so that a change in the machine's load hits all of them alike."""
    servers = {kind: Server(kind, folder, threads, max_batch_pairs, device, spec_options)
               for kind in kinds}
    runs: dict[str, list[tuple[float, list[float], list[list[float]]]]] = {k: [] for k in kinds}
    try:
        for server in servers.values():
            server.wait_ready()
            asyncio.run(drive(server.url, server.path, requests[:clients], clients))  # warm-up
        busy = busy_core() if load else None
        try:
            for round_ in range(repeats):
                order = kinds[round_ % len(kinds):] + kinds[: round_ % len(kinds)]
                for kind in order:
                    server = servers[kind]
                    runs[kind].append(asyncio.run(drive(server.url, server.path, requests, clients)))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    finally:
        for server in servers.values():
            server.stop()
    docs = sum(len(d) for _, d in requests)
    out = []
    for kind in kinds:
        rates = [docs / seconds for seconds, _, _ in runs[kind]]
        median_run = runs[kind][rates.index(statistics.median_low(rates))]
        out.append({"kind": kind, "threads": threads, "docs_s": statistics.median(rates),
                    "rates": rates, "p50": percentile(median_run[1], 50),
                    "p99": percentile(median_run[1], 99), "scores": median_run[2]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--docs", type=int, default=20, help="documents per request")
    parser.add_argument("--requests", type=int, default=None, help="first N requests only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--no-load", dest="load", action="store_false",
                        help="measure on an otherwise idle machine")
    parser.add_argument("--systems", default="ours,ours-no-batching,infinity,infinity-passive")
    parser.add_argument("--max-batch-pairs", type=int, default=512,
                        help="ours with batching: most pairs per merged call (the server's default)")
    parser.add_argument("--device", default="cpu",
                        help="torch device of every server (e.g. cuda: add --spec-options "
                             "batch_size=128 and a larger --max-batch-pairs)")
    parser.add_argument("--spec-options", default="",
                        help="more options for our spec, e.g. 'batch_size=128&batch_tokens=0'")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"TREC DL19 data not found at {DATA} (set TREC_DL19_DIR)")
    requests = make_requests(args.docs)[: args.requests]
    systems = [s for s in args.systems.split(",") if s]
    if any(s.startswith("infinity") for s in systems) and not INFINITY.exists():
        print(f"note: Infinity not found at {INFINITY} (set INFINITY_BIN): skipped")
        systems = [s for s in systems if not s.startswith("infinity")]
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        folder = build_model("ms-marco-MiniLM-L-6-v2", Path(tmp) / "minilm")
        print(f"{len(requests)} requests x {args.docs} DL19 passages, {args.clients} concurrent "
              f"clients, random-weight MiniLM-L6 cross-encoder, {os.cpu_count()} cores, "
              f"{'one core kept busy' if args.load else 'idle machine'}, "
              f"median of {args.repeats}")
        pad = padding(folder, requests, args.max_batch_pairs)
        print(f"tokens scored per real token: {pad['alone']:.3f} each request alone, "
              f"{pad['merged']:.3f} merged (<= {args.max_batch_pairs} pairs a call): at most "
              f"{pad['alone'] / pad['merged']:.2f}x from merging where cost is per token (CPU)")
        results = []
        for threads in [int(t) for t in args.threads.split(",")]:
            for r in measure_all(systems, folder, threads, requests, args.clients, args.repeats,
                                 args.load, args.max_batch_pairs, args.device,
                                 args.spec_options):
                results.append(r)
                print(f"  {r['kind']:18s} threads={threads}: {r['docs_s']:7.1f} docs/s "
                      f"(runs {', '.join(f'{x:.1f}' for x in r['rates'])}), "
                      f"p50 {r['p50'] * 1000:.0f} ms, p99 {r['p99'] * 1000:.0f} ms", flush=True)
    print()
    print("| system | threads | docs/s | p50 (ms) | p99 (ms) | vs ours without batching | vs Infinity |")
    print("|---|---|---|---|---|---|---|")
    by = {(r["kind"], r["threads"]): r for r in results}
    for r in results:
        base = by.get(("ours-no-batching", r["threads"]))
        inf = by.get(("infinity", r["threads"]))
        ratio = f"{r['docs_s'] / base['docs_s']:.2f}x" if base else "-"
        vs_inf = f"{r['docs_s'] / inf['docs_s']:.2f}x" if inf else "-"
        print(f"| {r['kind']} | {r['threads']} | {r['docs_s']:.1f} | {r['p50'] * 1000:.0f} | "
              f"{r['p99'] * 1000:.0f} | {ratio} | {vs_inf} |")
    print()
    for threads in sorted({r["threads"] for r in results}):
        ours, base = by.get(("ours", threads)), by.get(("ours-no-batching", threads))
        if ours and base:
            same = max(abs(a - b) for x, y in zip(ours["scores"], base["scores"], strict=True)
                       for a, b in zip(x, y, strict=True))
            ratio = ours["docs_s"] / base["docs_s"]
            print(f"threads={threads}: batching {ratio:.2f}x without (goal 1.5x: "
                  f"{'met' if ratio >= 1.5 else 'NOT met'}); max score difference {same:.1e}")
        for name in ("infinity", "infinity-passive"):
            inf = by.get((name, threads))
            if ours and inf:
                ratio = ours["docs_s"] / inf["docs_s"]
                print(f"threads={threads}: batching {ratio:.2f}x {name} (goal 1x: "
                      f"{'met' if ratio >= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
