"""Cross-request batching: concurrent requests share forward passes and get the scores they
would get one by one."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from rag_rerankers import init_reranker
from rag_rerankers.serve import ServeSettings
from rag_rerankers.serve.app import create_app
from rag_rerankers.serve.batcher import PairBatcher
from rag_rerankers.serve.server import ServerThread

from serve.helpers import DOCS, count_forward_passes, tiny_spec

QUERIES = [f"query number {i} about {DOCS[i % len(DOCS)].split()[0].lower()} things"
           for i in range(32)]


def _requests() -> list[dict]:
    # 32 requests, each with its own query and a rotation of the documents
    return [{"model": "tiny", "query": q, "documents": DOCS[i % 5:] + DOCS[: i % 5]}
            for i, q in enumerate(QUERIES)]


async def _post_all(url: str, bodies: list[dict], concurrent: bool) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        if concurrent:
            answers = await asyncio.gather(*(client.post("/v2/rerank", json=b) for b in bodies))
        else:
            answers = [await client.post("/v2/rerank", json=b) for b in bodies]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers][:2]
    return [{r["index"]: r["relevance_score"] for r in a.json()["results"]} for a in answers]


@pytest.mark.parametrize("spec_options", ["", "batch_tokens=256"])
def test_32_concurrent_requests_match_32_sequential_with_fewer_forward_passes(spec_options):
    spec = tiny_spec(spec_options)
    app = create_app({"tiny": spec}, ServeSettings(batching=True, max_wait_ms=20))
    reranker = app.state.models["tiny"].reranker
    bodies = _requests()
    with ServerThread(app) as server:
        with count_forward_passes(reranker) as sequential_passes:
            sequential = asyncio.run(_post_all(server.url, bodies, concurrent=False))
        with count_forward_passes(reranker) as concurrent_passes:
            concurrent = asyncio.run(_post_all(server.url, bodies, concurrent=True))
    assert len(sequential) == len(concurrent) == 32
    for one, many in zip(sequential, concurrent, strict=True):
        assert one.keys() == many.keys()
        for index in one:
            assert math.isclose(one[index], many[index], rel_tol=1e-5, abs_tol=1e-6)
    # Same pairs scored, in fewer (fuller) forward passes.
    assert sum(sequential_passes) == sum(concurrent_passes) == 32 * len(DOCS)
    assert len(concurrent_passes) < len(sequential_passes), (concurrent_passes, sequential_passes)
    # And the sequential answers are the in-process ranking's.
    local = init_reranker(spec)
    for body, got in zip(bodies[:4], sequential[:4], strict=False):
        want = {i.index: i.score for i in local.rank(body["query"], body["documents"])}
        assert all(math.isclose(got[k], want[k], rel_tol=1e-5, abs_tol=1e-6) for k in got)


def test_causal_lm_requests_share_forward_passes_with_the_same_scores() -> None:
    """The yes/no causal-LM rerankers (causal-lm, qwen3-reranker, bge-gemma) batch across
    requests too: a prompt's score does not depend on its batch's padding."""
    from local.helpers import tiny_model

    spec = f"causal-lm:{tiny_model('qwen3')}?batch_size=64"
    app = create_app({"tiny": spec}, ServeSettings(batching=True, max_wait_ms=20))
    served = app.state.models["tiny"]
    reranker = served.reranker
    assert served.batchers, "causal-lm offers score_groups"
    passes: list[int] = []
    real = reranker.answer_logits

    def counting(inputs, batch):
        passes.append(len(batch))
        return real(inputs, batch)

    reranker.answer_logits = counting
    bodies = _requests()[:12]
    with ServerThread(app) as server:
        sequential = asyncio.run(_post_all(server.url, bodies, concurrent=False))
        n_sequential = len(passes)
        concurrent = asyncio.run(_post_all(server.url, bodies, concurrent=True))
        n_concurrent = len(passes) - n_sequential
    for one, many in zip(sequential, concurrent, strict=True):
        assert one.keys() == many.keys()
        for index in one:
            assert math.isclose(one[index], many[index], rel_tol=1e-4, abs_tol=1e-5)
    assert n_sequential == 12 and n_concurrent < n_sequential, (n_sequential, n_concurrent)
    local = init_reranker(spec)
    for body, got in zip(bodies[:3], sequential[:3], strict=False):
        want = {i.index: i.score for i in local.rank(body["query"], body["documents"])}
        assert all(math.isclose(got[k], want[k], rel_tol=1e-4, abs_tol=1e-5) for k in got)


def test_without_batching_each_request_runs_its_own_passes() -> None:
    app = create_app({"tiny": tiny_spec()}, ServeSettings(batching=False))
    assert app.state.models["tiny"].batchers == {}
    reranker = app.state.models["tiny"].reranker
    with ServerThread(app) as server, count_forward_passes(reranker) as passes:
        asyncio.run(_post_all(server.url, _requests(), concurrent=True))
    assert len(passes) >= 32  # at least one forward pass per request


async def test_batcher_respects_max_pairs_and_isolates_a_failing_request() -> None:
    calls: list[list[int]] = []

    def score_groups(groups):
        calls.append([len(t) for _, t in groups])
        if any(q == "boom" for q, _ in groups):
            raise ValueError("bad pair")
        return [[float(len(x)) for x in texts] for _, texts in groups]

    batcher = PairBatcher(score_groups, max_wait=0.05, max_pairs=4)
    jobs = [batcher.score("q", ["a", "bb", "ccc"]), batcher.score("q", ["dddd"]),
            batcher.score("q", ["e", "f"])]
    assert await asyncio.gather(*jobs) == [[1.0, 2.0, 3.0], [4.0], [1.0, 1.0]]
    assert all(sum(c) <= 4 for c in calls)
    ok, bad = await asyncio.gather(batcher.score("q", ["x"]), batcher.score("boom", ["y"]),
                                   return_exceptions=True)
    assert ok == [1.0] and isinstance(bad, ValueError)
    await batcher.close()


def test_score_groups_equals_scoring_each_group() -> None:
    rr = init_reranker(tiny_spec())
    groups = [(q, DOCS[i % 3:]) for i, q in enumerate(QUERIES[:6])]
    together = rr.score_groups(groups)
    for (query, docs), scores in zip(groups, together, strict=True):
        alone = rr.score(query, docs)
        assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)
                   for a, b in zip(alone, scores, strict=True))


def test_batching_is_on_by_default_and_off_when_asked() -> None:
    # On a CPU too: merging saves the padding of each request's batches (docs/serving.md).
    app = create_app({"tiny": tiny_spec()}, ServeSettings())
    served = app.state.models["tiny"]
    assert served.reranker.device_type == "cpu"
    assert list(served.batchers) == [id(served.reranker)]
    assert served.describe()["batching"] is True
    app = create_app({"tiny": tiny_spec()}, ServeSettings(batching=False))
    assert app.state.models["tiny"].batchers == {}
    import argparse

    from rag_rerankers.serve.cli import SERVE, settings_from_args

    parser = argparse.ArgumentParser()
    SERVE.setup(parser)
    assert settings_from_args(parser.parse_args(["bm25"])).batching is True
    assert settings_from_args(parser.parse_args(["bm25", "--batching", "off"])).batching is False