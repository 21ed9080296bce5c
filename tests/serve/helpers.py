"""Shared pieces of the server tests: a tiny cross-encoder spec, a slow reranker, a counter of
forward passes."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rag_rerankers import Reranker
from rag_rerankers.types import ScoreType

from local.helpers import DOCS, QUERY, tiny_model

KEY = "serve-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}

__all__ = ["AUTH", "DOCS", "KEY", "QUERY", "SlowReranker", "count_forward_passes", "free_port",
           "tiny_spec", "wait_healthy"]


def tiny_spec(options: str = "") -> str:
    """``cross-encoder:<tiny random BERT folder>`` (built once per session)."""
    folder = tiny_model("bert")
    return f"cross-encoder:{folder}" + (f"?{options}" if options else "")


class SlowReranker(Reranker):
    """Scores by length after ``delay`` seconds; counts the calls that started."""

    backend = "slow"
    kind = "lexical"
    score_type = ScoreType.UNBOUNDED

    def __init__(self, delay: float = 0.5, fail: bool = False) -> None:
        super().__init__()
        self.delay = delay
        self.fail = fail
        self.started = threading.Event()
        self.calls = 0

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.calls += 1
        self.started.set()
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("slow backend is down")
        return [float(len(d)) for d in documents]


@contextmanager
def count_forward_passes(reranker) -> Iterator[list[int]]:
    """Count the cross-encoder's forward passes (calls of its runtime's ``run``), and the
    pairs in each: yields a list that gets one batch size per pass."""
    runtime = reranker._loaded.model
    real = runtime.run
    passes: list[int] = []

    def counting(features, *args, **kwargs):
        passes.append(len(features["input_ids"]))
        return real(features, *args, **kwargs)

    runtime.run = counting
    try:
        yield passes
    finally:
        runtime.run = real


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 60) -> None:
    """Wait until a server process answers ``GET /health`` with 200 (fail with its output if
    it exits or ``timeout`` seconds pass)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.2)
