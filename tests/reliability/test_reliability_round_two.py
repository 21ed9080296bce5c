"""Reliability, round two (issue 13): clients that close, typed answers, keys out of
tracebacks, cancellation, chains and config-string text."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag_rerankers import ConfigError, Reranker, init_reranker, list_backends
from rag_rerankers.errors import APIResponseError, RerankAPIError
from rag_rerankers.testing import FakeRerankServer

from reliability.helpers import exception_texts

API = [b["name"] for b in list_backends() if b["kind"] == "api"]
CANARY = "sk-canary-5f1c9e0d2b7a"


def _base(backend: str, url: str) -> str:
    return url + "/v1" if backend == "voyage" else url


# --------------------------------------------------------------------------- clients close
CLOSE_SCRIPT = r"""
import asyncio, gc, warnings
from rag_rerankers import init_reranker
from rag_rerankers.testing import FakeRerankServer

async def cancelled(rr):
    tasks = [asyncio.ensure_future(rr.arank("q", ["a b", "b"])) for _ in range(50)]
    await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

with FakeRerankServer(api_key="k", latency=0.05) as server:
    base = server.base_url("{backend}")
    make = lambda: init_reranker("{backend}", api_key="k", base_url=base, max_retries=0)
    rr = make(); rr.rank("q", ["a", "b"]); rr.close()                  # sync, close()
    rr = make(); asyncio.run(rr.arank("q", ["a", "b"]))                  # closed at loop end
    rr = make()
    async def both():
        await rr.arank("q", ["a", "b"]); rr.rank("q", ["a"]); await rr.aclose()
    asyncio.run(both())                                                  # aclose()
    rr = make(); asyncio.run(cancelled(rr))                              # cancelled calls
    del rr
    gc.collect()
print("done")
"""


@pytest.mark.parametrize("backend", API)
def test_every_client_is_closed_on_every_path(backend: str) -> None:
    """Under -X dev with ResourceWarning as an error, no path leaves a transport open."""
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c",
         CLOSE_SCRIPT.replace("{backend}", backend)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]
    assert "ResourceWarning" not in result.stderr and "Unclosed" not in result.stderr, (
        result.stderr[-3000:]
    )


# --------------------------------------------------------------------------- a scripted server
class _Scripted(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.answer  # type: ignore[attr-defined]
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if 300 <= status < 400:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.answer = (200, {})  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _call(rr: Reranker, mode: str) -> BaseException:
    try:
        if mode == "sync":
            rr.rank("q", ["a", "b", "c"])
        else:
            asyncio.run(rr.arank("q", ["a", "b", "c"]))
    except Exception as exc:  # noqa: BLE001 - returned for inspection
        return exc
    raise AssertionError("no error")


COHERE_SHAPES = [[1, 2], "ranked", 3, True, {"results": [1, 2]}, {"results": "x"}]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("body", COHERE_SHAPES, ids=repr)
def test_cohere_bodies_of_the_wrong_shape_are_typed(scripted, body, mode) -> None:
    scripted.answer = (200, body)
    rr = init_reranker("cohere", api_key="k", base_url=_url(scripted), max_retries=0)
    err = _call(rr, mode)
    assert isinstance(err, APIResponseError), repr(err)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("status", [301, 307, 308])
@pytest.mark.parametrize("backend", ["jina", "tei"])
def test_a_redirect_is_not_an_answer(scripted, backend, status, mode) -> None:
    body = ([{"index": i, "score": 0.5} for i in range(3)] if backend == "tei" else
            {"results": [{"index": i, "relevance_score": 0.5} for i in range(3)]})
    scripted.answer = (status, body)
    rr = init_reranker(backend, api_key="k", base_url=_url(scripted), max_retries=0)
    err = _call(rr, mode)
    assert isinstance(err, APIResponseError) and err.status == status, repr(err)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("answer", ["401-echo", "500-echo", "200-not-json"])
@pytest.mark.parametrize("backend", API)
def test_no_exception_we_raise_carries_the_key(scripted, backend, answer, mode) -> None:
    scripted.answer = {
        "401-echo": (401, {"message": f"invalid api key {CANARY}", "detail": CANARY}),
        "500-echo": (500, {"error": f"upstream said: Bearer {CANARY}"}),
        "200-not-json": (200, f"<html>key={CANARY}</html>".encode()),
    }[answer]
    rr = init_reranker(backend, api_key=CANARY, base_url=_base(backend, _url(scripted)),
                       max_retries=0)
    err = _call(rr, mode)
    assert isinstance(err, RerankAPIError), repr(err)
    assert not [text for text in exception_texts(err) if CANARY in text]


# --------------------------------------------------------------------------- arank_many
class _Billing(Reranker):
    """Counts calls; the query "boom" fails at once, the others take 50 ms."""

    backend = "billing"

    def __init__(self) -> None:
        super().__init__()
        self.started = 0

    def _score(self, query, documents):
        raise NotImplementedError

    async def _ascore(self, query, documents):
        self.started += 1
        if query == "boom":
            raise RuntimeError("provider down")
        await asyncio.sleep(0.05)
        return [1.0] * len(documents)


def test_arank_many_cancels_what_has_not_finished() -> None:
    rr = _Billing()
    queries = ["boom"] + [f"q{i}" for i in range(39)]

    async def run() -> None:
        with pytest.raises(RuntimeError, match="provider down"):
            await rr.arank_many(queries, [["a"]] * 40, concurrency=4)
        await asyncio.sleep(0.3)  # anything still running would start more calls here

    asyncio.run(run())
    assert rr.started <= 4, rr.started  # the first wave only, not 40 of 40


def test_arank_many_can_return_exceptions_in_place() -> None:
    rr = _Billing()
    out = asyncio.run(rr.arank_many(["boom", "ok"], [["a"], ["a"]], return_exceptions=True))
    assert isinstance(out[0], RuntimeError) and out[1][0].document == "a"


# --------------------------------------------------------------------------- chains, text
DOCS = ["red", "red apple", "apple", "blue", "sky", "red sky"]


@pytest.mark.parametrize("spec", ["bm25?top_n=3 | bm25", "bm25 | bm25?top_n=3",
                                  "bm25?top_n=3 | bm25?top_n=3"])
def test_top_n_applies_to_the_chain_wherever_written(spec: str) -> None:
    assert len(init_reranker(spec).rank("red", DOCS)) == 3


def test_top_n_twice_with_two_values_is_refused() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        init_reranker("bm25?top_n=2 | bm25?top_n=4")


@pytest.mark.parametrize("text", ["007123", "1e3", "Yes", "none", "0x1F", "+5", "1.50"])
def test_a_text_option_gets_the_text_as_written(text: str) -> None:
    with FakeRerankServer(api_key=text, record=True) as server:
        rr = init_reranker(f"jina?api_key={text}&base_url={server.url}&max_retries=0")
        rr.rank("red", ["red apple", "sky"])
        assert server.requests[-1].headers["authorization"] == f"Bearer {text}"
    assert init_reranker(f"embedding?offline=true&query_prefix={text}").query_prefix == text


def test_a_refused_choice_does_not_show_a_key_typed_into_it() -> None:
    with pytest.raises(ConfigError) as info:
        init_reranker(f"bm25?dedup=keep?api_key={CANARY}")
    assert CANARY not in str(info.value) and "api_key=***" in str(info.value)
