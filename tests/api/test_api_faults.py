"""Fault matrix: every fault x every API backend x retries on/off, sync and async.

Each case must end in the right result or the right typed error, within a time budget.
"""

from __future__ import annotations

import time

import pytest

from rag_rerankers.errors import (
    APIBadRequestError,
    APIConnectionError,
    APIRateLimitError,
    APIResponseError,
    APIServerError,
    APITimeoutError,
    RerankAPIError,
)

from api.helpers import BACKENDS, DOCS, QUERY, aclose, expected, make

WANT = expected(QUERY, DOCS)
READ_TIMEOUT = 0.3

# fault name -> (inject kwargs, error without retries or None, error with retries or None)
FAULTS = {
    "latency": ({"kind": "latency", "seconds": 0.05}, None, None),
    "429": ({"kind": "status", "status": 429, "retry_after": 0.05}, APIRateLimitError, None),
    "500": ({"kind": "status", "status": 500}, APIServerError, None),
    "503": ({"kind": "status", "status": 503, "retry_after": 0}, APIServerError, None),
    "read_timeout": ({"kind": "timeout", "seconds": 1.5}, APITimeoutError, None),
    "reset": ({"kind": "reset"}, APIConnectionError, None),
    "malformed": ({"kind": "malformed"}, APIResponseError, APIResponseError),
    "wrong_length": ({"kind": "wrong_length"}, APIResponseError, APIResponseError),
}
STATUS = {"429": 429, "500": 500, "503": 503}


def _check(fault, retries, outcome, elapsed, server):
    spec, err_off, err_on = FAULTS[fault]
    want_error = err_on if retries else err_off
    assert elapsed < 3.0, f"{fault} took {elapsed:.2f}s"
    if want_error is None:
        assert not isinstance(outcome, BaseException), repr(outcome)
        assert [(i.index, i.score) for i in outcome] == WANT
        assert server.pending_faults == 0
        # a failed first attempt was retried once; latency alone needs no retry
        assert server.request_count == (1 if fault == "latency" else 2)
        return
    assert type(outcome) is want_error, repr(outcome)
    assert outcome.attempts == 1  # no retries, or a fault that is never retried
    assert server.request_count == 1
    if fault in STATUS:
        assert outcome.status == STATUS[fault]
        assert outcome.request_id and outcome.request_id.startswith("fake-")
    if fault == "429":
        assert outcome.retry_after == pytest.approx(0.05)


@pytest.mark.parametrize("retries", [0, 2], ids=["retries-off", "retries-on"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_fault_sync(backend, fault, retries, server):
    rr = make(backend, server, max_retries=retries, timeout=READ_TIMEOUT)
    server.inject(**FAULTS[fault][0])
    start = time.perf_counter()
    try:
        outcome = rr.rank(QUERY, DOCS, top_n=None)
    except RerankAPIError as exc:
        outcome = exc
    _check(fault, retries, outcome, time.perf_counter() - start, server)


@pytest.mark.parametrize("retries", [0, 2], ids=["retries-off", "retries-on"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("backend", BACKENDS)
async def test_fault_async(backend, fault, retries, server):
    rr = make(backend, server, max_retries=retries, timeout=READ_TIMEOUT)
    server.inject(**FAULTS[fault][0])
    start = time.perf_counter()
    try:
        outcome = await rr.arank(QUERY, DOCS, top_n=None)
    except RerankAPIError as exc:
        outcome = exc
    _check(fault, retries, outcome, time.perf_counter() - start, server)
    await aclose(rr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_retry_after_is_honoured(backend, server):
    rr = make(backend, server, max_retries=1)  # backoff is 1 ms: the wait is Retry-After's
    server.inject("status", status=429, retry_after=0.3)
    start = time.perf_counter()
    assert [(i.index, i.score) for i in rr.rank(QUERY, DOCS, top_n=None)] == WANT
    assert 0.3 <= time.perf_counter() - start < 2.0
    assert server.request_count == 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_rate_limit_exhausted(backend, server):
    rr = make(backend, server, max_retries=2)
    server.inject("status", status=429, retry_after=0.01, times=3)
    with pytest.raises(APIRateLimitError) as info:
        await rr.arank(QUERY, DOCS)
    assert (info.value.status, info.value.attempts, server.request_count) == (429, 3, 3)
    assert "after 3 attempts" in str(info.value)
    await aclose(rr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_retry_after_beyond_max_backoff_fails_fast(backend, server):
    rr = make(backend, server, max_retries=3, max_backoff=1.0)
    server.inject("status", status=429, retry_after=120)
    start = time.perf_counter()
    with pytest.raises(APIRateLimitError) as info:
        rr.rank(QUERY, DOCS)
    assert time.perf_counter() - start < 1.0
    assert info.value.retry_after == 120 and server.request_count == 1


@pytest.mark.parametrize("status", [400, 404, 422])
@pytest.mark.parametrize("backend", BACKENDS)
def test_other_4xx_never_retried(backend, status, server):
    rr = make(backend, server, max_retries=3)
    server.inject("status", status=status)
    with pytest.raises(APIBadRequestError) as info:
        rr.rank(QUERY, DOCS)
    assert (info.value.status, info.value.attempts, server.request_count) == (status, 1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_errors_exhausted(backend, server):
    rr = make(backend, server, max_retries=1)
    server.inject("status", status=503, times=2)
    with pytest.raises(APIServerError) as info:
        rr.rank(QUERY, DOCS)
    assert (info.value.status, info.value.attempts) == (503, 2)


def test_connection_refused_is_typed():
    import socket

    from rag_rerankers import init_reranker

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rr = init_reranker("tei", base_url=f"http://127.0.0.1:{port}", max_retries=1, backoff=0.001)
    with pytest.raises(APIConnectionError) as info:
        rr.rank(QUERY, DOCS)
    assert info.value.attempts == 2 and info.value.status is None
