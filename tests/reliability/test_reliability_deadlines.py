"""Every API call ends in bounded time, however slowly a server sends (issue 13, defect 1)."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from rag_rerankers import init_reranker, list_backends
from rag_rerankers.errors import APITimeoutError

API = [b["name"] for b in list_backends() if b["kind"] == "api"]
KEY = "sk-deadline-0000"


class _Trickle(socketserver.BaseRequestHandler):
    """Sends a response one byte every 0.25 s, for at most 20 s (headers too, when slow)."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        try:
            sock.recv(65536)  # the request (small: one read is enough here)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            body = b'{"results": [' + b" " * 99980
            data = head + body if self.server.slow_headers else body  # type: ignore[attr-defined]
            if not self.server.slow_headers:  # type: ignore[attr-defined]
                sock.sendall(head)
            stop = time.monotonic() + 20
            for byte in data:
                if time.monotonic() > stop:
                    break
                sock.sendall(bytes([byte]))
                time.sleep(0.25)
        except OSError:
            pass  # the client gave up: what we want


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module", params=["slow-body", "slow-headers"])
def trickle(request: pytest.FixtureRequest) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Trickle)
    server.slow_headers = request.param == "slow-headers"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _build(backend: str, url: str, **options: object):
    base = url + "/v1" if backend == "voyage" else url
    return init_reranker(backend, api_key=KEY, base_url=base, **options)


def _timed(call) -> tuple[float, BaseException | object]:
    start = time.monotonic()
    try:
        out: object = call()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        out = exc
    return time.monotonic() - start, out


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", API)
def test_an_attempt_ends_at_connect_plus_read_timeout(trickle, backend, mode) -> None:
    rr = _build(backend, trickle, timeout=1.0, connect_timeout=0.5, max_retries=0)
    call = (lambda: rr.rank("q", ["a", "b"])) if mode == "sync" else (
        lambda: asyncio.run(rr.arank("q", ["a", "b"])))
    took, out = _timed(call)
    assert isinstance(out, APITimeoutError), out
    assert took < 1.5 + 1.0, took  # attempt budget (connect + read) + 1 s of slack
    rr.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", API)
def test_the_whole_call_ends_at_its_deadline(trickle, backend, mode) -> None:
    rr = _build(backend, trickle, timeout=1.0, connect_timeout=0.5, max_retries=5, backoff=0.1,
                deadline=1.2)
    call = (lambda: rr.rank("q", ["a", "b"])) if mode == "sync" else (
        lambda: asyncio.run(rr.arank("q", ["a", "b"])))
    took, out = _timed(call)
    assert isinstance(out, APITimeoutError), out
    assert took < 1.2 + 1.0, took
    rr.close()


@pytest.mark.parametrize("backend", ["cohere", "jina"])
def test_a_fallback_chain_behind_a_trickling_server_answers(trickle, backend) -> None:
    base = trickle + "/v1" if backend == "voyage" else trickle
    rr = init_reranker(f"{backend}?timeout=1&connect_timeout=0.5&max_retries=0 | bm25",
                       api_key=KEY, base_url=base)
    took, out = _timed(lambda: rr.rank("red apple", ["blue sky", "a red apple"]))
    assert not isinstance(out, BaseException), out
    assert [i.index for i in out] == [1, 0] and out[0].metadata["reranked_by"] == "bm25"
    assert took < 1.5 + 1.0, took


def test_deadline_is_a_documented_option() -> None:
    from rag_rerankers.registry import shipped_backends

    for info in shipped_backends():  # not backends other tests register (test-failing)
        if info.kind == "api":
            assert "deadline" in [o["name"] for o in info.as_dict()["options"]]
    with pytest.raises(Exception, match="deadline"):
        init_reranker("jina?deadline=0", api_key=KEY)
