"""Every API backend, sync and async, through the core and both adapters, on the fake server."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from langchain_rerankers import RerankCompressor
from llamaindex_rerankers import RerankPostprocessor
from rag_rerankers import init_reranker
from rag_rerankers.base import describe
from rag_rerankers.errors import APIAuthenticationError, APIResponseError, ConfigError
from rag_rerankers.registry import get_backend
from rag_rerankers.testing import FakeRerankServer

from api.helpers import BACKENDS, DOCS, KEY, QUERY, aclose, expected, make

WANT = expected(QUERY, DOCS)


def pairs(items):
    return [(i.index, i.score) for i in items]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_sync_exact_order_and_scores(backend, server):
    rr = make(backend, server)
    assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == WANT
    assert pairs(rr.rank(QUERY, DOCS, top_n=2)) == WANT[:2]
    assert rr.score(QUERY, DOCS) == [s for _, s in sorted(WANT)]
    # duplicates keep their own indices; ties come back in input order
    dup = [i for i, _ in WANT if DOCS[i] == DOCS[0]]
    assert dup == [0, 5]
    rr.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_rank_async_and_many(backend, server):
    rr = make(backend, server)
    assert pairs(await rr.arank(QUERY, DOCS, top_n=None)) == WANT
    queries = [QUERY, "baking bread", "sunny weather"]
    lists = [DOCS, DOCS[:3], DOCS[2:]]
    got = await rr.arank_many(queries, lists, top_n=None, concurrency=2)
    assert [pairs(r) for r in got] == [expected(q, d) for q, d in zip(queries, lists, strict=True)]
    assert [pairs(r) for r in rr.rank_many(queries, lists, top_n=None)] == [pairs(r) for r in got]
    await aclose(rr)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_langchain_compressor_sync_and_async(backend, server):
    comp = RerankCompressor(reranker=make(backend, server), top_n=3)
    docs = [Document(page_content=t, metadata={"id": i}) for i, t in enumerate(DOCS)]
    for out in (comp.compress_documents(docs, QUERY), await comp.acompress_documents(docs, QUERY)):
        assert [(d.metadata["id"], d.metadata["relevance_score"]) for d in out] == WANT[:3]
    assert "relevance_score" not in docs[0].metadata  # inputs untouched
    await aclose(comp.reranker)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_llamaindex_postprocessor_sync_and_async(backend, server):
    post = RerankPostprocessor(reranker=make(backend, server), top_n=3, metadata_mode="none")
    nodes = [NodeWithScore(node=TextNode(text=t, id_=str(i)), score=0.0) for i, t in enumerate(DOCS)]
    sync = post.postprocess_nodes(nodes, query_str=QUERY)
    asyn = await post.apostprocess_nodes(nodes, query_str=QUERY)
    for out in (sync, asyn):
        assert [(int(n.node.id_), n.score) for n in out] == WANT[:3]
    assert all(n.score == 0.0 for n in nodes)
    await aclose(post.reranker)


def test_wire_formats_sent(server):
    for backend in BACKENDS:
        make(backend, server).rank(QUERY, DOCS[:2])
    bodies = {r.provider: r for r in server.requests}
    assert set(bodies) == set(BACKENDS)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)
    assert bodies["cohere"].path == "/v2/rerank"
    assert "max_tokens_per_doc" not in bodies["cohere"].body  # omitted, not null
    assert bodies["cohere"].body["model"] == "rerank-v5.0-pro"
    assert bodies["voyage"].path == "/voyage/v1/rerank"
    assert bodies["voyage"].body["model"] == "rerank-2.5"
    assert bodies["voyage"].body["truncation"] is True
    assert bodies["jina"].body == {"model": "jina-reranker-v3", "query": QUERY,
                                   "documents": DOCS[:2], "top_n": 2, "return_documents": False}
    assert bodies["mixedbread"].path == "/v1/reranking"
    assert bodies["mixedbread"].body["input"] == DOCS[:2]
    assert bodies["mixedbread"].body["model"] == "mixedbread-ai/mxbai-rerank-large-v2"
    assert bodies["tei"].body == {"query": QUERY, "texts": DOCS[:2], "truncate": True,
                                  "raw_scores": False, "return_text": False}
    # Self-hosted servers: no default model, so none is sent (the server's own is used).
    assert bodies["vllm"].path == "/vllm/v1/rerank"
    assert bodies["vllm"].body == {"query": QUERY, "documents": DOCS[:2], "top_n": 2}
    assert bodies["infinity"].path == "/infinity/rerank"
    assert bodies["infinity"].body == {"query": QUERY, "documents": DOCS[:2], "top_n": 2,
                                       "raw_scores": False, "return_documents": False}
    assert bodies["llama-cpp"].path == "/llama-cpp/v1/rerank"
    assert bodies["llama-cpp"].body == {"query": QUERY, "documents": DOCS[:2], "top_n": 2}
    assert bodies["localai"].path == "/localai/v1/rerank"
    assert bodies["localai"].body == {"query": QUERY, "documents": DOCS[:2], "top_n": 2}


def test_cohere_max_tokens_per_doc_is_sent(server):
    make("cohere", server, max_tokens_per_doc=512).rank(QUERY, DOCS[:2])
    assert server.requests[-1].body["max_tokens_per_doc"] == 512


def test_config_string_and_registry(server):
    rr = init_reranker(f"cohere:rerank-v3.5?top_n=2&max_retries=0&base_url={server.url}",
                       api_key=KEY)
    assert (rr.model, rr.top_n, rr.max_retries) == ("rerank-v3.5", 2, 0)
    assert len(rr.rank(QUERY, DOCS)) == 2
    for name in BACKENDS:
        info, _ = get_backend(name)
        assert info.kind == "api"
        # Declared options against the constructors: tests/test_config.py


@pytest.mark.parametrize(
    ("backend", "env"),
    [("cohere", "COHERE_API_KEY"), ("voyage", "VOYAGE_API_KEY"), ("jina", "JINA_API_KEY"),
     ("mixedbread", "MXBAI_API_KEY")],
)
def test_missing_key_names_env_var(backend, env, monkeypatch):
    for var in ("COHERE_API_KEY", "CO_API_KEY", "VOYAGE_API_KEY", "JINA_API_KEY",
                "MXBAI_API_KEY", "MIXEDBREAD_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match=env):
        init_reranker(backend)


@pytest.mark.parametrize(("backend", "env"), [("cohere", "CO_API_KEY"),
                                              ("mixedbread", "MIXEDBREAD_API_KEY")])
def test_key_from_fallback_env_var(backend, env, monkeypatch, server):
    for var in ("COHERE_API_KEY", "CO_API_KEY", "MXBAI_API_KEY", "MIXEDBREAD_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(env, KEY)
    rr = init_reranker(backend, base_url=server.url)
    assert rr.api_key.get_secret_value() == KEY
    assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == WANT


def test_tei_needs_base_url(monkeypatch):
    monkeypatch.delenv("TEI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="TEI_BASE_URL"):
        init_reranker("tei")


def test_self_hosted_base_url_needs_no_key(monkeypatch):
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    with FakeRerankServer(api_key=None) as srv:
        rr = init_reranker("jina", base_url=srv.url)
        assert pairs(rr.rank(QUERY, DOCS, top_n=None)) == WANT
        assert "authorization" not in srv.requests[-1].headers


@pytest.mark.parametrize("backend", BACKENDS)
def test_key_never_shown_and_wrong_key_is_typed(backend, server):
    rr = make(backend, server, api_key="sk-wrong-key-42")
    text = repr(rr) + str(describe(rr)) + repr(vars(rr).get("_api_key"))
    assert "sk-wrong-key-42" not in text
    with pytest.raises(APIAuthenticationError) as info:
        rr.rank(QUERY, DOCS)
    err = info.value
    assert (err.provider, err.status, err.attempts) == (backend, 401, 1)
    assert err.request_id and err.request_id.startswith("fake-")
    assert "sk-wrong-key-42" not in str(err) and "sk-wrong-key-42" not in repr(err)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_arank_never_blocks_the_loop(backend, server):
    server.latency = 0.2
    rr = make(backend, server, timeout=2.0)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await rr.arank(QUERY, DOCS)
    task.cancel()
    assert ticks >= 10  # the loop kept running during the 200 ms request
    await aclose(rr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_clients_work_across_event_loops(backend, server):
    rr = make(backend, server)
    for _ in range(2):  # a second asyncio.run gets its own client
        assert pairs(asyncio.run(rr.arank(QUERY, DOCS, top_n=None))) == WANT


@pytest.mark.parametrize("backend", ["cohere", "voyage", "jina", "mixedbread"])
async def test_top_n_is_asked_of_the_provider(backend, server):
    rr = make(backend, server)
    key = {"cohere": "top_n", "voyage": "top_k", "jina": "top_n", "mixedbread": "top_k"}[backend]
    assert pairs(rr.rank(QUERY, DOCS, top_n=2)) == WANT[:2]
    assert server.requests[-1].body[key] == 2
    assert pairs(await rr.arank(QUERY, DOCS, top_n=3)) == WANT[:3]
    assert server.requests[-1].body[key] == 3
    rr.rank(QUERY, DOCS, top_n=None)  # every score: all (distinct) documents asked for
    # cohere leaves top_n out and voyage sends null; jina and mixedbread ask for every one
    every = {"cohere": None, "voyage": None, "jina": len(set(DOCS)), "mixedbread": len(set(DOCS))}
    assert server.requests[-1].body.get(key) == every[backend]  # duplicates: once
    server.inject("wrong_length")  # one of the top 2 missing is caught too
    with pytest.raises(APIResponseError, match="1 results, expected 2"):
        rr.rank(QUERY, DOCS, top_n=2)
    await aclose(rr)


def test_tei_top_n_cut_locally(server):
    rr = make("tei", server)
    assert pairs(rr.rank(QUERY, DOCS, top_n=2)) == WANT[:2]
    assert len(server.requests[-1].body["texts"]) == len(set(DOCS))  # duplicates: once


@pytest.mark.parametrize("backend", BACKENDS)
async def test_key_never_logged(backend, server, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    good = make(backend, server, max_retries=1)
    good.rank(QUERY, DOCS)
    await good.arank(QUERY, DOCS)
    server.inject("status", status=500)
    good.rank(QUERY, DOCS)
    bad = make(backend, server, api_key="sk-wrong-key-42", max_retries=0)
    with pytest.raises(APIAuthenticationError):
        await bad.arank(QUERY, DOCS)
    assert KEY not in caplog.text and "sk-wrong-key-42" not in caplog.text
    await aclose(good)
    await aclose(bad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_reranker_two_threads_two_event_loops(backend, server):
    from concurrent.futures import ThreadPoolExecutor

    server.latency = 0.02
    rr = make(backend, server)

    def run(_: int) -> list:
        return asyncio.run(rr.arank_many([QUERY] * 4, [DOCS] * 4, top_n=None))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, range(2)))
    assert all(pairs(r) == WANT for batch in results for r in batch)


LOOP_END_SCRIPT = """
import asyncio, gc, sys
from rag_rerankers import init_reranker
from rag_rerankers.testing import FakeRerankServer

backend = sys.argv[1]
with FakeRerankServer(api_key="k") as server:
    rr = init_reranker(backend, api_key="k", base_url=server.base_url(backend))
    clients, closed = [], []
    real_close = rr._close_async_client

    async def recording_close(client):
        closed.append(client)
        await real_close(client)

    rr._close_async_client = recording_close

    async def once():
        out = await rr.arank("bicycle gears", ["bread", "bicycle gears"])
        clients.append(rr._async_client())
        return out

    for _ in range(2):  # a new loop each time, as scripts and notebooks do
        assert [i.index for i in asyncio.run(once())] == [1, 0]
    gc.collect()
    # Each loop's client was closed when its loop ended, without an explicit aclose().
    assert len(clients) == 2 and clients[0] is not clients[1]
    assert [id(c) for c in closed] == [id(c) for c in clients], (len(closed), len(clients))
    for c in clients:
        for part in c if isinstance(c, tuple) else (c,):
            state = getattr(part, "is_closed", getattr(part, "closed", True))
            state = state() if callable(state) else state
            assert state is True, (type(part), state)
print("ok")
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_clients_close_when_their_event_loop_ends(backend: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", LOOP_END_SCRIPT, backend], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert "Unclosed" not in proc.stderr  # aiohttp's warning for a leaked session
