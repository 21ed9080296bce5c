"""The app as a Ray Serve deployment on a local Ray instance: two replicas answer the official
cohere SDK and TEI-format requests."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from rag_rerankers import ConfigError
from rag_rerankers.serve.ray import deployment, parse_autoscale

from serve.helpers import DOCS, QUERY, tiny_spec

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_url():
    started = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = deployment({"tiny": tiny_spec(), "lexical": "bm25?top_n=1"}, num_replicas=2, threads=1)
    serve.run(app, route_prefix="/")
    # The bar: a local Ray instance starts (and deploys) within a minute.
    assert time.monotonic() - started < 60, f"Ray took {time.monotonic() - started:.0f} s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_two_replicas_answer_real_clients(ray_url) -> None:
    import cohere

    from rag_rerankers import init_reranker

    client = cohere.ClientV2(api_key="unused", base_url=ray_url)
    res = client.rerank(model="tiny", query=QUERY, documents=DOCS, top_n=3)
    want = {i.index: i.score for i in init_reranker(tiny_spec()).rank(QUERY, DOCS)}
    assert [r.index for r in res.results] == sorted(want, key=lambda i: -want[i])[:3]
    for r in res.results:
        assert abs(r.relevance_score - want[r.index]) < 1e-5
    tei = httpx.post(ray_url + "/rerank", json={"model": "lexical", "query": "red apple",
                                                "texts": ["sky", "red apple"]}, timeout=60)
    assert [x["index"] for x in tei.json()] == [1]
    status = serve.status().applications["default"].deployments["rag-rerankers"]
    assert status.replica_states.get("RUNNING") == 2


def test_autoscaling_settings() -> None:
    assert parse_autoscale("2:6") == {"min_replicas": 2, "max_replicas": 6,
                                      "target_ongoing_requests": 16}
    with pytest.raises(ConfigError, match="MIN:MAX"):
        parse_autoscale("6:2")
    app = deployment("bm25", autoscaling=parse_autoscale("1:4"), threads=2)
    config = app._bound_deployment._deployment_config
    assert config.autoscaling_config.max_replicas == 4
    assert app._bound_deployment.ray_actor_options["num_cpus"] == 2
    with pytest.raises(ConfigError, match="config strings"):
        deployment({"x": object()})
