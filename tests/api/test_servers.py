"""The self-hosted server backends (vllm, infinity, llama-cpp, localai) on the fake server:
each documented route and answer, base_url required, keys never borrowed from a hosted
provider's variable, declared score types, OpenAI-style errors.

The shared API tests (test_api_backends, _faults, _splitting) also run every one of them.
"""

from __future__ import annotations

import math

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.errors import APIServerError, ConfigError, MissingCredentialsError
from rag_rerankers.testing import FakeRerankServer

from api.helpers import DOCS, KEY, QUERY, aclose, expected, make

SERVERS = ("vllm", "infinity", "llama-cpp", "localai")
OWN_KEY_VAR = {"vllm": "VLLM_API_KEY", "infinity": "INFINITY_API_KEY",
               "llama-cpp": "LLAMA_API_KEY", "localai": "LOCALAI_API_KEY"}
HOSTED_KEY_VARS = ("COHERE_API_KEY", "CO_API_KEY", "VOYAGE_API_KEY", "JINA_API_KEY",
                   "MXBAI_API_KEY", "MIXEDBREAD_API_KEY", "OPENAI_API_KEY")
WANT = expected(QUERY, DOCS)


def pairs(items):
    return [(i.index, i.score) for i in items]


@pytest.fixture
def open_server():
    """The fake server without a key (self-hosted servers usually run without one)."""
    with FakeRerankServer(api_key=None) as srv:
        yield srv


@pytest.mark.parametrize("backend", SERVERS)
def test_base_url_is_required(backend, monkeypatch):
    with pytest.raises(MissingCredentialsError, match="base_url"):
        init_reranker(backend)


@pytest.mark.parametrize("backend", SERVERS)
def test_no_key_needed_and_none_borrowed_from_hosted_providers(backend, monkeypatch, open_server):
    for var in (*HOSTED_KEY_VARS, *OWN_KEY_VAR.values()):
        monkeypatch.delenv(var, raising=False)
    for var in HOSTED_KEY_VARS:  # keys of hosted providers must never reach this host
        monkeypatch.setenv(var, "sk-hosted-provider-key")
    rr = init_reranker(backend, base_url=open_server.base_url(backend), normalize="none")
    assert rr.api_key is None
    assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == WANT
    assert "authorization" not in open_server.requests[-1].headers


@pytest.mark.parametrize("backend", SERVERS)
def test_key_from_the_servers_own_variable(backend, monkeypatch, server):
    monkeypatch.setenv(OWN_KEY_VAR[backend], KEY)
    rr = init_reranker(backend, base_url=server.base_url(backend))
    rr.rank(QUERY, DOCS[:2])
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(("backend", "score_type"), [
    ("vllm", "probability"), ("infinity", "probability"), ("llama-cpp", "logit"),
    ("localai", "logit"),
])
def test_declared_score_types(backend, score_type):
    rr = init_reranker(backend, base_url="http://127.0.0.1:9")
    assert rr.score_type.value == score_type


@pytest.mark.parametrize("backend", ["llama-cpp", "localai"])
def test_logits_are_sigmoid_normalized_by_default_raw_score_kept(backend, open_server):
    rr = init_reranker(backend, base_url=open_server.base_url(backend))
    out = rr.rank(QUERY, DOCS, top_n=None)
    assert [(i.index, i.metadata["raw_score"]) for i in out] == WANT  # as the server sent them
    assert [i.score for i in out] == [1 / (1 + math.exp(-s)) for _, s in WANT]


@pytest.mark.parametrize("route", ["/v1/rerank", "/v2/rerank", "/score"])
async def test_vllm_routes(route, server):
    rr = make("vllm", server, route=route, model="BAAI/bge-reranker-v2-m3")
    assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == WANT
    sent = server.requests[-1]
    assert sent.path == "/vllm" + route
    if route == "/score":
        assert sent.body == {"text_1": QUERY, "text_2": list(dict.fromkeys(DOCS)),
                             "model": "BAAI/bge-reranker-v2-m3"}
    else:
        assert sent.body == {"query": QUERY, "documents": list(dict.fromkeys(DOCS)),
                             "top_n": len(set(DOCS)), "model": "BAAI/bge-reranker-v2-m3"}
    assert pairs(await rr.arank(QUERY, DOCS, top_n=2)) == WANT[:2]
    # /score has no top_n: every pair is scored and the cut is made here
    assert server.requests[-1].body.get("top_n") == (None if route == "/score" else 2)
    await aclose(rr)


def test_vllm_route_is_checked():
    with pytest.raises(ConfigError, match="route"):
        init_reranker("vllm?route=/rerank", base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("route", ["/v1/rerank", "/rerank"])
def test_llama_cpp_routes_and_local_top_n(route, server):
    rr = make("llama-cpp", server, route=route)
    assert pairs(rr.rank(QUERY, DOCS, top_n=2)) == WANT[:2]
    sent = server.requests[-1]
    assert sent.path == "/llama-cpp" + route
    assert sent.body["top_n"] == len(sent.body["documents"])  # asks for all, cuts here


async def test_infinity_with_and_without_url_prefix(open_server):
    plain = init_reranker(f"infinity?base_url={open_server.url}")  # started with no prefix
    prefixed = init_reranker("infinity", base_url=open_server.base_url("infinity") + "/v1")
    for rr in (plain, prefixed):
        assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == WANT
        assert pairs(await rr.arank(QUERY, DOCS, top_n=3)) == WANT[:3]
        await aclose(rr)
    assert [r.path for r in open_server.requests] == ["/rerank", "/rerank",
                                                      "/infinity/v1/rerank", "/infinity/v1/rerank"]
    assert {r.provider for r in open_server.requests} == {"infinity"}


def test_infinity_splits_at_its_client_batch_limit(server):
    server.max_documents = {"infinity": 2048}  # INFINITY_MAX_CLIENT_BATCH_SIZE's default
    rr = make("infinity", server)
    docs = [f"bicycle gear {i}" for i in range(3000)]
    assert len(rr.rank(QUERY, docs, top_n=None)) == 3000
    assert [len(r.body["documents"]) for r in server.requests] == [2048, 952]


@pytest.mark.parametrize("backend", SERVERS)
def test_openai_style_error_message_is_surfaced(backend, server):
    server.inject("status", status=500, provider=backend)
    rr = make(backend, server, max_retries=0)
    with pytest.raises(APIServerError) as info:
        rr.rank(QUERY, DOCS)
    assert info.value.message == "server error: injected fault"
    assert info.value.provider == backend
