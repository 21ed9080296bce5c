"""Prometheus metrics of a server (``GET /metrics``), in a registry of its own per app.

Names (all prefixed ``rag_rerankers_``): ``requests_total{endpoint,model,status}``,
``documents_total{model}``, ``request_seconds{endpoint,model}`` (histogram),
``batch_requests{model}`` and ``batch_pairs{model}`` (histograms: requests and pairs per merged
forward call), ``errors_total{endpoint,kind}``, ``cache_hits_total{model}``,
``cache_misses_total{model}``, ``pending`` (requests in progress).

With several uvicorn workers each process counts its own; scrape each replica, or run one
worker per container (see docs/scaling.md).

Example:
    >>> m = ServerMetrics()
    >>> m.documents.labels(model="m").inc(3)
    >>> b"rag_rerankers_documents_total" in m.render()[0]
    True
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PAIR_BUCKETS = (1, 5, 10, 20, 50, 100, 200, 400, 800, 1600)
REQUEST_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServerMetrics:
    """The counters and histograms of one app (see the module docs)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        p = "rag_rerankers_"
        self.requests = Counter(p + "requests", "Rerank requests answered.",
                                ["endpoint", "model", "status"], registry=r)
        self.documents = Counter(p + "documents", "Documents received for reranking.",
                                 ["model"], registry=r)
        self.latency = Histogram(p + "request_seconds", "Rerank request latency (seconds).",
                                 ["endpoint", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_requests = Histogram(p + "batch_requests",
                                        "Requests merged into one batched scoring call.",
                                        ["model"], buckets=REQUEST_BUCKETS, registry=r)
        self.batch_pairs = Histogram(p + "batch_pairs",
                                     "(query, document) pairs per batched scoring call.",
                                     ["model"], buckets=PAIR_BUCKETS, registry=r)
        self.errors = Counter(p + "errors", "Error answers, by kind.", ["endpoint", "kind"],
                              registry=r)
        self.cache_hits = Counter(p + "cache_hits", "Scores found in the result cache.",
                                  ["model"], registry=r)
        self.cache_misses = Counter(p + "cache_misses", "Scores not in the result cache.",
                                    ["model"], registry=r)
        self.pending = Gauge(p + "pending", "Requests in progress (running or queued).",
                             registry=r)

    def on_batch(self, model: str, requests: int, pairs: int) -> None:
        self.batch_requests.labels(model=model).observe(requests)
        self.batch_pairs.labels(model=model).observe(pairs)

    def on_cache(self, model: str, hits: int, misses: int) -> None:
        self.cache_hits.labels(model=model).inc(hits)
        self.cache_misses.labels(model=model).inc(misses)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
