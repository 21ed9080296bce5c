"""Queue bound (503 + Retry-After), request timeout (504), graceful shutdown with requests in
flight, keys files, settings checks, and the CLI end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag_rerankers import ConfigError
from rag_rerankers.serve import ServeSettings
from rag_rerankers.serve.app import create_app
from rag_rerankers.serve.cli import model_specs
from rag_rerankers.serve.server import ServerThread
from rag_rerankers.serve.settings import read_keys_file

from serve.helpers import SlowReranker, free_port, wait_healthy

BODY = {"model": "slow", "query": "q", "documents": ["a", "bb"]}


def test_queue_full_answers_503_with_retry_after() -> None:
    slow = SlowReranker(delay=0.6)
    app = create_app({"slow": slow}, ServeSettings(max_pending=2, retry_after=3))
    with ServerThread(app) as server, ThreadPoolExecutor(4) as pool:
        running = [pool.submit(httpx.post, server.url + "/v2/rerank", json=BODY, timeout=30)
                   for _ in range(2)]
        deadline = time.monotonic() + 10
        while app.state.admission.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = httpx.post(server.url + "/rerank", json={"query": "q", "texts": ["a"]})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.json()["error_type"] == "Overloaded"
        assert "server busy" in refused.json()["error"]
        assert [f.result().status_code for f in running] == [200, 200]
        # the queue drained: admitted again
        assert httpx.post(server.url + "/v2/rerank", json=BODY, timeout=30).status_code == 200


def test_request_timeout_answers_504() -> None:
    app = create_app({"slow": SlowReranker(delay=1.0)}, ServeSettings(request_timeout=0.2))
    with ServerThread(app) as server:
        r = httpx.post(server.url + "/v1/rerank", json=BODY, timeout=30)
    assert r.status_code == 504
    assert r.json() == {"detail": "the request took longer than the server's 0.2 s timeout"}


def test_backend_failure_is_502_in_the_format() -> None:
    app = create_app({"slow": SlowReranker(delay=0, fail=True)})
    with ServerThread(app) as server:
        r = httpx.post(server.url + "/v2/rerank", json=BODY)
    assert r.status_code == 502 and "slow backend is down" in r.json()["message"]


def test_shutdown_finishes_requests_in_flight() -> None:
    slow = SlowReranker(delay=1.0)
    server = ServerThread(create_app({"slow": slow})).start()
    url = server.url
    result: dict = {}

    def call() -> None:
        result["response"] = httpx.post(url + "/v2/rerank", json=BODY, timeout=30)

    thread = threading.Thread(target=call)
    thread.start()
    assert slow.started.wait(10)
    stopping = threading.Thread(target=server.stop)
    stopping.start()  # while the request is being scored
    thread.join(30)
    stopping.join(30)
    response = result["response"]
    assert response.status_code == 200
    assert [x["index"] for x in response.json()["results"]] == [1, 0]
    with pytest.raises(httpx.ConnectError):  # and then it is gone
        httpx.post(url + "/v2/rerank", json=BODY, timeout=5)


def test_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("# comment\nalpha\n\n  beta  \n")
    assert read_keys_file(path) == ("alpha", "beta")
    (tmp_path / "empty.txt").write_text("# none\n")
    with pytest.raises(ConfigError, match="holds no key"):
        read_keys_file(tmp_path / "empty.txt")
    with pytest.raises(ConfigError, match="cannot read"):
        read_keys_file(tmp_path / "missing.txt")


def test_settings_are_checked_and_keys_never_shown() -> None:
    with pytest.raises(ConfigError, match="max_documents"):
        ServeSettings(max_documents=0)
    with pytest.raises(ConfigError, match="api_keys"):
        ServeSettings(api_keys=("",))
    assert "s3cret" not in repr(ServeSettings(api_keys=("s3cret",)))


def test_model_specs() -> None:
    assert model_specs("cross-encoder:some/model?top_n=3", ["lex=bm25"]) == {
        "some/model": "cross-encoder:some/model?top_n=3", "lex": "bm25"}
    with pytest.raises(ConfigError, match="NAME=SPEC"):
        model_specs(None, ["oops"])
    with pytest.raises(ConfigError, match="give a spec"):
        model_specs(None, [])



def test_cli_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    keys = tmp_path / "keys"
    keys.write_text("k1\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag_rerankers", "serve", "bm25?top_n=1", "--model", "all=bm25",
         "--port", str(port), "--api-keys-file", str(keys)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url, timeout=60)
        h = {"Authorization": "Bearer k1"}
        body = {"query": "red apple", "texts": ["sky", "red apple"]}
        assert [x["index"] for x in httpx.post(url + "/rerank", json=body, headers=h).json()] == [1]
        body = {"model": "all", "query": "red apple", "documents": ["sky", "red apple"]}
        assert len(httpx.post(url + "/v1/rerank", json=body, headers=h).json()["results"]) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal (exit status -SIGTERM)
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Finished server process" in proc.stdout.read()


def test_cli_bad_model_option_exits_2() -> None:
    out = subprocess.run([sys.executable, "-m", "rag_rerankers", "serve", "--model", "x"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert out.returncode == 2 and "NAME=SPEC" in out.stderr


def test_worker_processes_build_the_app_from_the_environment(monkeypatch) -> None:
    import json

    from rag_rerankers.serve.app import app_from_env
    from rag_rerankers.serve.settings import ENV_CONFIG

    settings = ServeSettings(max_documents=7, batching=False)
    monkeypatch.setenv(ENV_CONFIG, json.dumps({"models": {"lex": "bm25"},
                                               "settings": json.loads(settings.to_json())}))
    app = app_from_env()
    assert list(app.state.models) == ["lex"] and app.state.settings == settings
    monkeypatch.delenv(ENV_CONFIG)
    with pytest.raises(ConfigError, match=ENV_CONFIG):
        app_from_env()
