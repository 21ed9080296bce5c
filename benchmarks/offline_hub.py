"""How long loading a hub model takes to fail when the hub cannot be reached, before and after
``rag_rerankers.hub`` (bounded wait, no retries).

For ``cross-encoder``, ``mxbai`` and ``colbert`` with a hub name that is not cached, each run
starts a fresh Python process with ``HF_ENDPOINT`` at an unreachable hub and an empty
``HF_HUB_CACHE``, imports the model libraries, then times ``init_reranker(spec)`` until it
raises. Two kinds of unreachable hub, both on 127.0.0.1:

- ``closed port``: nothing listens, connections are refused at once;
- ``no answer``: a server accepts connections and never answers (a dead proxy, a firewall).

"before" is the code before ``rag_rerankers/hub.py`` was added (``git archive`` of the parent
of the commit that added it, or ``--before FOLDER``); "after" is this checkout. The processes of
one side run ``--workers`` at a time (they mostly wait). Prints medians side by side, the
"Retrying in" lines each printed, and whether the error still says "Check your internet
connection".

Usage::

    python benchmarks/offline_hub.py [--runs 3] [--timeout 5] [--before FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("cross-encoder", "mxbai", "colbert")
CAP = [300.0]  # set from --cap

CHILD = r"""
import json, sys, time
import sentence_transformers, transformers  # imported before the clock starts
import rag_rerankers
from rag_rerankers import init_reranker
start = time.perf_counter()
try:
    init_reranker(sys.argv[1])
    outcome, message = "loaded", ""
except Exception as exc:
    outcome, message = type(exc).__name__, str(exc)
print(json.dumps({"seconds": time.perf_counter() - start, "outcome": outcome, "message": message,
                  "package": rag_rerankers.__file__}))
"""


class Silent:
    """Accepts TCP connections on 127.0.0.1 and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def before_tree(arg: str | None) -> Path:
    """A folder holding the package as it was before rag_rerankers/hub.py."""
    if arg:
        return Path(arg).resolve()
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "rag_rerankers/hub.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    if not added:
        sys.exit("rag_rerankers/hub.py is not committed yet: pass --before FOLDER")
    folder = Path(tempfile.mkdtemp(prefix="rag-rerankers-before-"))
    archive = subprocess.run(["git", "archive", f"{added[-1]}^", "rag_rerankers", "pyproject.toml"],
                             cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_once(code_root: Path, spec: str, endpoint: str, timeout: float, cap: float) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env.update(PYTHONPATH=str(code_root), HF_ENDPOINT=endpoint, HF_HUB_CACHE=cache,
                   HF_HUB_DISABLE_TELEMETRY="1", RAG_RERANKERS_HUB_TIMEOUT=str(timeout))
        # cwd: not this checkout, which `python -c` would put first on sys.path.
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, spec], env=env,
                                  capture_output=True, text=True, timeout=cap, cwd=cache)
        except subprocess.TimeoutExpired as exc:  # still waiting on the hub: stopped at the cap
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return {"seconds": None, "outcome": "still waiting", "message": "",
                    "retries": err.count("Retrying in")}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise RuntimeError(f"{spec}: child failed:\n{proc.stderr[-2000:]}")
    result = json.loads(lines[-1])
    result["retries"] = proc.stderr.count("Retrying in")
    if not result["package"].startswith(str(code_root)):
        raise RuntimeError(f"imported {result['package']}, not the code in {code_root}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="RAG_RERANKERS_HUB_TIMEOUT for the 'after' runs (default 5)")
    parser.add_argument("--before", default=None, help="folder with the old package (default: git)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--json", default=None, help="also write every run's result here")
    parser.add_argument("--cap", type=float, default=300,
                        help="stop a process after this many seconds (import included); "
                        "reported as '>cap'")
    parser.add_argument("--workers", type=int, default=9,
                        help="processes at once (each imports torch: mind the memory)")
    args = parser.parse_args()

    CAP[0] = args.cap
    silent = Silent()
    hubs = {"closed port": closed_port(), "no answer": silent.endpoint}
    sides = {"before": before_tree(args.before), "after": ROOT}
    cases = [(b, h) for b in args.backends.split(",") for h in hubs]
    results: dict[tuple[str, str, str], list[dict]] = {}
    for side, root in sides.items():
        jobs = {(side, b, h, i): (root, f"{b}:rag-rerankers-bench/not-cached-{b}", hubs[h])
                for b, h in cases for i in range(args.runs)}
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            futures = {key: pool.submit(run_once, *job, args.timeout, args.cap)
                       for key, job in jobs.items()}
            for (s, b, h, _), fut in futures.items():
                results.setdefault((s, b, h), []).append(fut.result())

    if args.json:
        Path(args.json).write_text(json.dumps({"|".join(k): v for k, v in results.items()}, indent=1))
    print(f"Unreachable hub: seconds until init_reranker fails (median of {args.runs}; "
          f"after: RAG_RERANKERS_HUB_TIMEOUT={args.timeout:g})\n")
    header = (f"{'backend':<14}{'hub':<13}{'before s':>10}{'after s':>10}{'ratio':>8}"
              f"{'retries b/a':>13}  {'internet msg b/a':<18}error after")
    print(header)
    print("-" * len(header))
    for b, h in cases:
        before, after = results[("before", b, h)], results[("after", b, h)]
        print(f"{b:<14}{h:<13}{_median(before):>10}{_median(after):>10}{_ratio(before, after):>8}"
              f"{_median(before, 'retries'):>7}/{_median(after, 'retries'):<5}  "
              f"{_said(before):>3}/{_said(after):<14}{after[0]['outcome']}")
    print(f"\n'>{args.cap:g}': still waiting on the hub when stopped ({args.cap:g} s after the "
          "process started, imports included).")


def _median(runs: list[dict], key: str = "seconds") -> str:
    """Median of a column; a run stopped at the cap counts as longer than any finished one."""
    values = sorted((r[key] if r[key] is not None else float("inf")) for r in runs)
    mid = values[len(values) // 2] if len(values) % 2 else None
    if mid is None:
        mid = (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    if mid == float("inf"):
        return f">{CAP[0]:g}"
    return f"{mid:.0f}" if key == "retries" else f"{mid:.1f}"


def _ratio(before: list[dict], after: list[dict]) -> str:
    b, a = _median(before), _median(after)
    if b.startswith(">"):
        return f">{float(b[1:]) / float(a):.0f}x"
    return f"{float(b) / float(a):.0f}x"


def _said(runs: list[dict]) -> str:
    return "yes" if any("Check your internet connection" in r["message"] for r in runs) else "no"

if __name__ == "__main__":
    main()
