"""Everything in the spec applies server-side (fallbacks, cache, long_docs, thresholds), and
/metrics counts what happened."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rag_rerankers import init_reranker
from rag_rerankers.serve import ServeSettings
from rag_rerankers.serve.app import create_app
from rag_rerankers.serve.server import ServerThread

from serve.helpers import DOCS, QUERY, SlowReranker, tiny_spec


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url + "/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_fallback_chain_threshold_and_long_docs_apply_server_side() -> None:
    # A chain in the config string: TEI on a closed port fails, bm25 answers.
    failing = "tei?base_url=http://127.0.0.1:9&max_retries=0 | bm25"
    long_spec = tiny_spec("long_docs=chunk&chunk_size=16&normalize=none")
    app = create_app({"chain": failing, "threshold": "bm25?score_threshold=0.3",
                      "long": long_spec})
    long_doc = " ".join(["filler words about nothing"] * 20) + " flat bicycle tyre patch"
    with ServerThread(app) as server:
        chain = httpx.post(server.url + "/v2/rerank", json={
            "model": "chain", "query": "red apple", "documents": ["sky", "red apple"]}).json()
        assert [r["index"] for r in chain["results"]] == [1, 0]  # bm25 answered
        cut = httpx.post(server.url + "/v2/rerank", json={
            "model": "threshold", "query": "red apple", "documents": ["sky", "red apple"]}).json()
        assert [r["index"] for r in cut["results"]] == [1]  # "sky" is under the threshold
        docs = [long_doc, DOCS[0]]
        got = httpx.post(server.url + "/rerank", json={"model": "long", "query": QUERY,
                                                        "texts": docs}).json()
    want = {i.index: i.score for i in init_reranker(long_spec).rank(QUERY, docs)}
    for x in got:
        assert math.isclose(x["score"], want[x["index"]], rel_tol=1e-5, abs_tol=1e-6)


def test_metrics_count_requests_documents_errors_batches_and_cache() -> None:
    app = create_app({"tiny": tiny_spec("cache=memory"), "slow": SlowReranker(delay=0)},
                     ServeSettings(api_keys=("k",), max_documents=10, batching=True,
                                   max_wait_ms=20))
    auth = {"Authorization": "Bearer k"}
    with ServerThread(app) as server:
        body = {"model": "tiny", "query": QUERY, "documents": DOCS}
        for _ in range(2):  # the second time every score comes from the cache
            assert httpx.post(server.url + "/v2/rerank", json=body, headers=auth).status_code == 200
        httpx.post(server.url + "/v2/rerank", json=body)  # 401
        httpx.post(server.url + "/v1/rerank", json={"model": "tiny", "query": "q",
                                                    "documents": ["a"] * 11}, headers=auth)  # 413

        async def burst() -> None:
            async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=60) as c:
                answers = await asyncio.gather(*(
                    c.post("/rerank", json={"query": f"q{i}", "texts": DOCS}) for i in range(8)))
            assert all(a.status_code == 200 for a in answers)

        asyncio.run(burst())
        m = _samples(server.url)
    cohere_ok = ("rag_rerankers_requests_total",
                 (("endpoint", "cohere"), ("model", "tiny"), ("status", "200")))
    assert m[cohere_ok] == 2
    assert m[("rag_rerankers_requests_total",
              (("endpoint", "cohere"), ("model", "-"), ("status", "401")))] == 1
    assert m[("rag_rerankers_requests_total",
              (("endpoint", "jina"), ("model", "tiny"), ("status", "413")))] == 1
    assert m[("rag_rerankers_requests_total",
              (("endpoint", "tei"), ("model", "tiny"), ("status", "200")))] == 8
    assert m[("rag_rerankers_errors_total", (("endpoint", "cohere"), ("kind", "unauthorized")))] == 1
    assert m[("rag_rerankers_errors_total", (("endpoint", "jina"), ("kind", "too_large")))] == 1
    # documents counted once admitted and within limits: 2 x 7 (cohere) + 8 x 7 (tei)
    assert m[("rag_rerankers_documents_total", (("model", "tiny"),))] == 2 * 7 + 8 * 7
    assert m[("rag_rerankers_request_seconds_count",
              (("endpoint", "tei"), ("model", "tiny")))] == 8
    # cache: the first cohere request missed 7, the second hit 7; the tei ones missed 8 x 7
    assert m[("rag_rerankers_cache_hits_total", (("model", "tiny"),))] == 7
    assert m[("rag_rerankers_cache_misses_total", (("model", "tiny"),))] == 7 + 8 * 7
    # batches: every scored pair was in exactly one batch
    assert m[("rag_rerankers_batch_pairs_sum", (("model", "tiny"),))] == 7 + 8 * 7
    batches = m[("rag_rerankers_batch_pairs_count", (("model", "tiny"),))]
    assert m[("rag_rerankers_batch_requests_sum", (("model", "tiny"),))] == 1 + 8
    assert batches < 1 + 8  # the burst shared batches
    assert m[("rag_rerankers_pending", ())] == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_option_sets_torch_threads(threads: int) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        rr = init_reranker(tiny_spec(f"threads={threads}"))
        assert rr.threads == threads and torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_server_sizes_threads_to_cores_per_worker(monkeypatch) -> None:
    import torch

    from rag_rerankers.serve import settings as settings_mod

    before = torch.get_num_threads()
    monkeypatch.setattr(settings_mod, "usable_cores", lambda: 8)
    try:
        assert ServeSettings(workers=4).torch_threads() == 2
        create_app({"tiny": tiny_spec()}, ServeSettings(workers=4))
        assert torch.get_num_threads() == 2
        create_app({"tiny": tiny_spec()}, ServeSettings(threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
