"""The app as a Ray Serve deployment on a local Ray instance: two replicas answer the official
cohere SDK and TEI-format requests."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from rag_rerankers import ConfigError
from rag_rerankers.serve.ray import deployment, parse_autoscale

from serve.helpers import DOCS, QUERY, free_port, tiny_spec

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

pytestmark = pytest.mark.slow



def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def test_cli_ray_serves_and_stops_on_ctrl_c() -> None:
    """`rag-rerankers serve SPEC --ray` end to end (before the fixture below starts its own Ray:
    this one starts, and on Ctrl-C shuts down, a local instance of its own)."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag_rerankers", "serve", "bm25?top_n=1", "--ray", "--port", str(port),
         "--replicas", "1", "--threads", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not any("rag-rerankers on Ray Serve" in line for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.5)
        body = {"model": "bm25", "query": "red apple", "documents": ["sky", "red apple"]}
        got = httpx.post(url + "/v1/rerank", json=body, timeout=60).json()
        assert [r["index"] for r in got["results"]] == [1]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        reader.join(30)
    out = "".join(lines)
    assert proc.returncode == 0, out[-3000:]
    assert f"rag-rerankers on Ray Serve: http://127.0.0.1:{port}" in out


@pytest.fixture(scope="module")
def ray_url():
    started = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    port = free_port()
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
    # Each replica process started with the server's OpenMP policy (its runtime_env); Ray
    # titles a replica's process "ray::ServeReplica:<app>:<deployment>".
    replicas = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                and _cmdline(p).startswith(b"ray::ServeReplica:default:rag-rerankers")]
    assert len(replicas) == 2
    for proc in replicas:
        raw = (proc / "environ").read_bytes().split(b"\0")
        assert b"OMP_WAIT_POLICY=PASSIVE" in raw


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
