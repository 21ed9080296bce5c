"""A fake rerank provider: one loopback HTTP server speaking nine rerank wire formats.

Routes (``POST``, JSON bodies, ``Authorization: Bearer <key>`` checked on every route):

==============================  ==================  =============================================
route                           provider            what a client sets as its base URL
==============================  ==================  =============================================
``/v2/rerank``                  Cohere v2           ``server.url``
``/voyage/v1/rerank``           Voyage              ``server.base_url("voyage")`` (ends in /v1)
``/v1/rerank``                  Jina (Voyage when   ``server.url``
                                the body has
                                ``truncation``)
``/v1/reranking``               Mixedbread          ``server.url``
``/rerank``                     TEI (Infinity when  ``server.url``
                                the body has
                                ``documents``)
``/vllm/v1/rerank``,            vLLM                ``server.base_url("vllm")``
``/vllm/v2/rerank``,
``/vllm/score``
``/infinity/rerank``,           Infinity (with and  ``server.base_url("infinity")`` (+ ``/v1``)
``/infinity/v1/rerank``         without a prefix)
``/llama-cpp/v1/rerank``,       llama.cpp server    ``server.base_url("llama-cpp")``
``/llama-cpp/rerank``
``/localai/v1/rerank``          LocalAI             ``server.base_url("localai")``
==============================  ==================  =============================================

The self-hosted servers (vLLM, Infinity, llama.cpp, LocalAI) sit under a path named after
them, so that one fake serves each with its own answers and errors (OpenAI-style
``{"error": {"message", "type", "code"}}``); a client's base URL includes that path.

Scores come from :func:`lexical_score`, a deterministic function of (query, document) alone,
so a candidate list split over several requests gets exactly the scores of one request.

Faults are queued with :meth:`FakeRerankServer.inject` and consumed one per request, in order:
``latency``, ``status`` (429 with ``Retry-After``, 500, 503, ...), ``timeout`` (answer only
after a long delay), ``reset`` (TCP reset), ``malformed`` (200 with broken JSON) and
``wrong_length`` (one result missing).

The server is an ``asyncio`` loop in one daemon thread with a minimal HTTP/1.1 parser and
keep-alive: its own cost per request stays in the tens of microseconds, so it can sit in a
concurrency benchmark without becoming the bottleneck.

Example:
    >>> import httpx
    >>> with FakeRerankServer(api_key="k") as server:
    ...     r = httpx.post(server.url + "/rerank", headers={"Authorization": "Bearer k"},
    ...                    json={"query": "red apple", "texts": ["blue sky", "a red apple"]})
    >>> [hit["index"] for hit in r.json()]
    [1, 0]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeRerankServer", "Fault", "RecordedRequest", "lexical_score", "PROVIDERS"]

PROVIDERS = ("cohere", "voyage", "jina", "mixedbread", "tei", "vllm", "infinity", "llama-cpp",
             "localai")
SERVERS = ("vllm", "infinity", "llama-cpp", "localai")
"""Self-hosted servers: their routes start with ``/<name>``."""
_ROUTES = {
    "/v2/rerank": "cohere",
    "/voyage/v1/rerank": "voyage",
    "/v1/rerank": "jina",
    "/v1/reranking": "mixedbread",
    "/rerank": "tei",
    "/vllm/v1/rerank": "vllm",
    "/vllm/v2/rerank": "vllm",
    "/vllm/score": "vllm",
    "/infinity/rerank": "infinity",
    "/infinity/v1/rerank": "infinity",  # started with --url-prefix /v1
    "/llama-cpp/v1/rerank": "llama-cpp",
    "/llama-cpp/rerank": "llama-cpp",
    "/localai/v1/rerank": "localai",
}
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
_WORD = re.compile(r"\w+")


def _terms(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def lexical_score(query: str, document: str) -> float:
    """The fake server's relevance score, in (0, 1): a deterministic function of the pair.

    Mostly the share of distinct query terms found in the document, plus a small bonus for
    shorter documents so that ties are rare.

    Example:
        >>> lexical_score("red apple", "a red apple") > lexical_score("red apple", "a red car")
        True
    """
    return _score_terms(_terms(query), document)


def _score_terms(query_terms: set[str], document: str) -> float:
    words = _WORD.findall(document.lower())
    if not query_terms:
        return 0.0
    overlap = len(query_terms.intersection(words)) / len(query_terms)
    return 0.9 * overlap + 0.1 / (1.0 + len(words) / 32.0)


@dataclass(frozen=True)
class Fault:
    """One injected fault (see :meth:`FakeRerankServer.inject`)."""

    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    provider: str | None = None


@dataclass
class RecordedRequest:
    """A request the server received (kept when ``record=True``)."""

    provider: str
    path: str
    headers: dict[str, str]
    body: Any
    fault: str | None = None


@dataclass
class _Limits:
    max_documents: dict[str, int] = field(default_factory=dict)


class FakeRerankServer:
    """Loopback fake of the Cohere v2, Voyage, Jina, Mixedbread and TEI rerank APIs and of the
    vLLM, Infinity, llama.cpp and LocalAI servers' rerank routes.

    Args:
        api_key: the key every request must carry as ``Authorization: Bearer <key>``;
            ``None`` accepts requests without one.
        latency: seconds added before every answer (a realistic provider delay).
        max_documents: per-provider document limit per request (``{"tei": 32}``); a request
            over it gets the provider's error (TEI: 413, others: 400).
        record: keep every request (path, headers, body) in :attr:`requests`.
        host, port: where to listen; port 0 picks a free port.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        api_key: str | None = "test-key",
        *,
        latency: float = 0.0,
        max_documents: dict[str, int] | None = None,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.latency = latency
        self.max_documents: dict[str, int] = dict(max_documents or {})
        self.record = record
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.request_count = 0
        self._faults: deque[Fault] = deque()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The base URL a client of ``provider`` should use (Voyage's ends in ``/v1``; a
        self-hosted server's ends in ``/<name>``)."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; choose from {PROVIDERS}")
        if provider in SERVERS:
            return f"{self.url}/{provider}"
        return self.url + "/voyage/v1" if provider == "voyage" else self.url

    def start(self) -> FakeRerankServer:
        """Start listening (returns once the port is bound)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # pragma: no cover - bind failure
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-rerank-server", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        """Close every connection and stop the server thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeRerankServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- faults
    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        status: int = 500,
        retry_after: float | str | None = None,
        seconds: float = 0.0,
        provider: str | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` requests (of ``provider``, if given).

        Kinds: ``"latency"`` (wait ``seconds``, then answer normally), ``"status"`` (answer
        ``status`` with the provider's error body and ``Retry-After: retry_after`` when
        given), ``"timeout"`` (wait ``seconds`` before answering, longer than the client's
        read timeout), ``"reset"`` (reset the TCP connection), ``"malformed"`` (200 with
        broken JSON), ``"wrong_length"`` (200 with one result missing).
        """
        if kind not in {"latency", "status", "timeout", "reset", "malformed", "wrong_length"}:
            raise ValueError(f"unknown fault kind {kind!r}")
        ra = None if retry_after is None else (
            retry_after if isinstance(retry_after, str) else format(retry_after, "g")
        )
        fault = Fault(kind, status=status, retry_after=ra, seconds=seconds, provider=provider)
        with self._lock:
            self._faults.extend([fault] * times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def _next_fault(self, provider: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.provider is None or fault.provider == provider:
                    del self._faults[i]
                    return fault
        return None

    # ---------------------------------------------------------------- HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, _version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                keep = await self._respond(writer, method, target.split("?", 1)[0], headers, body)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> bool:
        self.request_count += 1
        request_id = f"fake-{next(self._ids)}"
        provider = _ROUTES.get(path.rstrip("/") or "/")
        if provider is None or method != "POST":
            await self._send(writer, 404, {"detail": f"no route {method} {path}"}, request_id)
            return True
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if provider == "jina" and isinstance(body, dict) and "truncation" in body:
            provider = "voyage"  # a Voyage client whose base URL is server.url + "/v1"
        if provider == "tei" and isinstance(body, dict) and "documents" in body:
            provider = "infinity"  # Infinity without a URL prefix, at server.url
        fault = self._next_fault(provider)
        if self.record:
            self.requests.append(
                RecordedRequest(provider, path, headers, body, fault.kind if fault else None)
            )
        delay = self.latency + (fault.seconds if fault and fault.kind in {"latency", "timeout"} else 0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.kind == "reset":
            _reset(writer)
            return False
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            await self._send(writer, 401, _error_body(provider, 401, "invalid API key"), request_id)
            return True
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            await self._send(
                writer, fault.status, _error_body(provider, fault.status, "injected fault"),
                request_id, extra,
            )
            return True
        try:
            query, documents, params = _parse(provider, body, path)
        except _BadRequest as exc:
            status = 422 if provider in {"jina", "mixedbread", "tei", "infinity"} else 400
            await self._send(writer, status, _error_body(provider, status, str(exc)), request_id)
            return True
        limit = self.max_documents.get(provider)
        if limit is not None and len(documents) > limit:
            status = _OVER_LIMIT_STATUS.get(provider, 400)
            message = (
                f"batch size {len(documents)} > maximum allowed batch size {limit}"
                if provider == "tei"
                else f"too many documents: {len(documents)} > {limit}"
            )
            await self._send(writer, status, _error_body(provider, status, message), request_id)
            return True
        if fault is not None and fault.kind == "malformed":
            await self._send_raw(writer, 200, b'{"results": [{"index": 0, "relevance', request_id)
            return True
        terms = _terms(query)
        scores = [_score_terms(terms, doc) for doc in documents]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        if fault is not None and fault.kind == "wrong_length" and order:
            top = None if provider == "tei" or path.endswith("/score") else (
                params.get("top_n") or params.get("top_k"))
            order = order[: top or len(order)][:-1]  # one result short of what was asked
        await self._send(
            writer, 200,
            _success_body(provider, order, scores, documents, params, request_id, path),
            request_id,
        )
        return True

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: Any,
        request_id: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        await self._send_raw(writer, status, json.dumps(payload).encode(), request_id, extra)

    @staticmethod
    async def _send_raw(
        writer: asyncio.StreamWriter,
        status: int,
        data: bytes,
        request_id: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            f"x-request-id: {request_id}",
        ]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


class _BadRequest(ValueError):
    pass


# TEI: 413; Infinity: FastAPI's 422 (a list over INFINITY_MAX_CLIENT_BATCH_SIZE); others: 400.
_OVER_LIMIT_STATUS = {"tei": 413, "infinity": 422}


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends RST instead of FIN
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _BadRequest(f"'{name}' must be a non-empty list of strings")
    return value


def _parse(provider: str, body: Any, path: str = "") -> tuple[str, list[str], dict[str, Any]]:
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    if path.endswith("/score"):  # vLLM's score API: text_1 against every text_2
        if not isinstance(body.get("text_1"), str) or not body["text_1"]:
            raise _BadRequest("'text_1' must be a non-empty string")
        return body["text_1"], _strings(body.get("text_2"), "text_2"), body
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise _BadRequest("'query' must be a non-empty string")
    if provider == "tei":
        return query, _strings(body.get("texts"), "texts"), body
    if provider == "mixedbread":
        return query, _strings(body.get("input"), "input"), body
    # Jina has a default model; Cohere v2 and Voyage require one.
    if provider in {"cohere", "voyage"} and not isinstance(body.get("model"), str):
        raise _BadRequest("'model' is required")
    for key in ("top_n", "top_k"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise _BadRequest(f"'{key}' must be a positive integer")
    return query, _strings(body.get("documents"), "documents"), body


def _error_body(provider: str, status: int, message: str) -> Any:
    if provider in SERVERS:  # OpenAI-style error objects
        return {"error": {"message": message, "type": "BadRequestError" if status < 500
                          else "InternalServerError", "param": None, "code": status}}
    if provider == "cohere":
        return {"id": "error", "message": message}
    if provider == "tei":
        kinds = {413: "Validation", 422: "Validation", 429: "Overloaded", 401: "Unauthorized"}
        return {"error": message, "error_type": kinds.get(status, "Backend")}
    return {"detail": message}  # Voyage, Jina and Mixedbread use FastAPI-style bodies


def _tokens(texts: Iterable[str]) -> int:
    return sum(len(t) // 4 + 1 for t in texts)


def _success_body(
    provider: str,
    order: list[int],
    scores: list[float],
    documents: list[str],
    params: dict[str, Any],
    request_id: str,
    path: str = "",
) -> Any:
    if provider in SERVERS:
        return _server_body(provider, order, scores, documents, params, request_id, path)
    if provider == "tei":
        with_text = bool(params.get("return_text"))
        return [
            {"index": i, "score": scores[i], **({"text": documents[i]} if with_text else {})}
            for i in order
        ]
    query = params["query"]
    usage = _tokens(documents) + len(documents) * _tokens([query])
    if provider == "cohere":
        top = params.get("top_n") or len(order)
        return {
            "id": request_id,
            "results": [{"index": i, "relevance_score": scores[i]} for i in order[:top]],
            "meta": {
                "api_version": {"version": "2"},
                "billed_units": {"search_units": max(1, -(-len(documents) // 100))},
            },
        }
    if provider == "voyage":
        top = params.get("top_k") or len(order)
        with_docs = bool(params.get("return_documents"))
        return {
            "object": "list",
            "data": [
                {"relevance_score": scores[i], "index": i,
                 **({"document": documents[i]} if with_docs else {})}
                for i in order[:top]
            ],
            "model": params.get("model"),
            "usage": {"total_tokens": usage},
        }
    if provider == "jina":
        top = params.get("top_n") or len(order)
        with_docs = params.get("return_documents", True)
        return {
            "model": params.get("model") or "jina-reranker-v3",
            "usage": {"total_tokens": usage},
            "results": [
                {"index": i, "relevance_score": scores[i],
                 **({"document": {"text": documents[i]}} if with_docs else {})}
                for i in order[:top]
            ],
        }
    # mixedbread
    top = params.get("top_k") or len(order)
    with_input = bool(params.get("return_input"))
    return {
        "object": "list",
        "data": [
            {"index": i, "score": scores[i], "object": "rank_result",
             **({"input": documents[i]} if with_input else {})}
            for i in order[:top]
        ],
        "model": params.get("model") or "mixedbread-ai/mxbai-rerank-large-v2",
        "usage": {"prompt_tokens": usage, "total_tokens": usage},
        "top_k": top,
        "return_input": with_input,
    }


def _server_body(
    provider: str,
    order: list[int],
    scores: list[float],
    documents: list[str],
    params: dict[str, Any],
    request_id: str,
    path: str,
) -> Any:
    """The answers of vLLM, Infinity, llama.cpp and LocalAI, as each documents them."""
    query = params.get("text_1") if path.endswith("/score") else params["query"]
    usage = _tokens(documents) + len(documents) * _tokens([query])
    model = params.get("model") or "served-model"
    if path.endswith("/score"):  # vLLM /score: input order, no top_n
        return {"id": f"score-{request_id}", "object": "list", "created": 0, "model": model,
                "data": [{"index": i, "object": "score", "score": scores[i]} for i in sorted(order)],
                "usage": {"prompt_tokens": usage, "total_tokens": usage}}
    top = params.get("top_n") or len(order)  # 0 or absent: every document
    ranked = order[:top]
    if provider == "infinity":
        return {"object": "rerank", "id": request_id, "created": 0, "model": model,
                "results": [{"relevance_score": scores[i], "index": i, "document": None}
                            for i in ranked],
                "usage": {"prompt_tokens": usage, "total_tokens": usage}}
    if provider == "llama-cpp":
        return {"model": model, "object": "list",
                "usage": {"prompt_tokens": usage, "total_tokens": usage},
                "results": [{"index": i, "relevance_score": scores[i]} for i in ranked]}
    # vLLM /v1 and /v2 rerank, LocalAI: the document echoed as {"text": ...}
    results = [{"index": i, "document": {"text": documents[i]}, "relevance_score": scores[i]}
               for i in ranked]
    if provider == "localai":
        return {"model": model, "usage": {"total_tokens": usage, "prompt_tokens": usage},
                "results": results}
    return {"id": f"rerank-{request_id}", "model": model, "usage": {"total_tokens": usage},
            "results": results}
