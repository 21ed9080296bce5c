"""Clients we did not write, pointed at `rag-rerankers serve` on 127.0.0.1: the official
cohere SDK (sync and async), langchain-cohere's CohereRerank, our own cohere/jina/tei
backends, and raw httpx for each documented schema (errors included)."""

from __future__ import annotations

import math

import httpx
import pytest

from rag_rerankers import init_reranker
from rag_rerankers.serve import ServeSettings
from rag_rerankers.serve.app import create_app
from rag_rerankers.serve.server import ServerThread

from serve.helpers import AUTH, DOCS, KEY, QUERY, tiny_spec

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def spec() -> str:
    return tiny_spec()


@pytest.fixture(scope="module")
def server(spec):
    app = create_app({"tiny": spec, "lexical": "bm25?top_n=2"},
                     ServeSettings(api_keys=(KEY, "other-key"), max_documents=50,
                                   max_document_chars=2000, batching=True))
    with ServerThread(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def expected(spec) -> dict[int, float]:
    """The same spec ranked in-process: index -> normalized score."""
    return {item.index: item.score for item in init_reranker(spec).rank(QUERY, DOCS)}


def _close(got: dict[int, float], want: dict[int, float]) -> None:
    assert set(got) <= set(want)
    for index, score in got.items():
        assert math.isclose(score, want[index], rel_tol=1e-5, abs_tol=1e-6), index


def test_official_cohere_sdk_sync(server, expected) -> None:
    import cohere

    client = cohere.ClientV2(api_key=KEY, base_url=server.url)
    res = client.rerank(model="tiny", query=QUERY, documents=DOCS, top_n=3)
    assert len(res.results) == 3
    assert [r.index for r in res.results] == sorted(expected, key=lambda i: -expected[i])[:3]
    _close({r.index: r.relevance_score for r in res.results}, expected)
    assert res.meta.billed_units.search_units == 1


async def test_official_cohere_sdk_async(server, expected) -> None:
    import cohere

    client = cohere.AsyncClientV2(api_key=KEY, base_url=server.url)
    res = await client.rerank(model="tiny", query=QUERY, documents=DOCS)
    assert len(res.results) == len(DOCS)
    _close({r.index: r.relevance_score for r in res.results}, expected)


def test_official_cohere_sdk_errors(server) -> None:
    import cohere
    from cohere.core.api_error import ApiError

    bad = cohere.ClientV2(api_key="wrong", base_url=server.url)
    with pytest.raises(ApiError) as info:
        bad.rerank(model="tiny", query=QUERY, documents=DOCS)
    assert info.value.status_code == 401
    good = cohere.ClientV2(api_key=KEY, base_url=server.url)
    with pytest.raises(ApiError) as info:
        good.rerank(model="nope", query=QUERY, documents=DOCS)
    assert info.value.status_code == 404 and "served models" in info.value.body["message"]


def test_langchain_cohere_rerank(server, expected) -> None:
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document

    compressor = CohereRerank(model="tiny", cohere_api_key=KEY, base_url=server.url, top_n=2)
    docs = [Document(page_content=d, metadata={"i": i}) for i, d in enumerate(DOCS)]
    out = compressor.compress_documents(docs, QUERY)
    best = sorted(expected, key=lambda i: -expected[i])[:2]
    assert [d.metadata["i"] for d in out] == best
    _close({d.metadata["i"]: d.metadata["relevance_score"] for d in out}, expected)


@pytest.mark.parametrize("backend", ["cohere:tiny", "jina:tiny", "tei"])
def test_our_api_backends(server, expected, backend) -> None:
    rr = init_reranker(backend, api_key=KEY, base_url=server.url, max_retries=0)
    got = rr.rank(QUERY, DOCS)
    assert [i.index for i in got] == sorted(expected, key=lambda i: -expected[i])
    _close({i.index: i.score for i in got}, expected)


def test_request_top_n_wins_over_the_spec(server) -> None:
    body = {"model": "lexical", "query": "red apple", "documents": ["red", "apple", "sky"]}
    default = httpx.post(server.url + "/v2/rerank", json=body, headers=AUTH).json()
    assert len(default["results"]) == 2  # the spec's top_n=2
    wider = httpx.post(server.url + "/v2/rerank", json={**body, "top_n": 3}, headers=AUTH).json()
    assert len(wider["results"]) == 3


# ------------------------------------------------------------------ raw httpx, each schema
def test_cohere_schema(server, expected) -> None:
    r = httpx.post(server.url + "/v2/rerank", headers=AUTH,
                   json={"model": "tiny", "query": QUERY, "documents": DOCS, "top_n": 2,
                         "max_tokens_per_doc": None})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "results", "meta"}
    assert body["meta"] == {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}
    assert [set(x) for x in body["results"]] == [{"index", "relevance_score"}] * 2


def test_jina_schema(server, expected) -> None:
    r = httpx.post(server.url + "/v1/rerank", headers=AUTH,
                   json={"model": "tiny", "query": QUERY,
                         "documents": [{"text": d} for d in DOCS[:3]], "top_n": 2})
    body = r.json()
    assert r.status_code == 200 and body["model"] == "tiny"
    assert body["usage"]["total_tokens"] > 0
    for x in body["results"]:
        assert x["document"] == {"text": DOCS[x["index"]]}
    r = httpx.post(server.url + "/v1/rerank", headers=AUTH,
                   json={"query": QUERY, "documents": DOCS, "return_documents": False})
    assert all(set(x) == {"index", "relevance_score"} for x in r.json()["results"])
    assert len(r.json()["results"]) == len(DOCS)  # no model: the first (default) model


def test_tei_schema(server, expected) -> None:
    r = httpx.post(server.url + "/rerank", headers=AUTH,
                   json={"query": QUERY, "texts": DOCS, "return_text": True})
    body = r.json()
    assert r.status_code == 200 and isinstance(body, list) and len(body) == len(DOCS)
    assert [x["score"] for x in body] == sorted((x["score"] for x in body), reverse=True)
    assert all(x["text"] == DOCS[x["index"]] for x in body)
    raw = httpx.post(server.url + "/rerank", headers=AUTH,
                     json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    # raw scores are the cross-encoder's logits; the default ones their sigmoid
    by_index = {x["index"]: x["score"] for x in body}
    for x in raw:
        assert math.isclose(1 / (1 + math.exp(-x["score"])), by_index[x["index"]], rel_tol=1e-6)


@pytest.mark.parametrize(
    ("path", "body", "status", "shape"),
    [
        ("/v2/rerank", {"query": "q", "documents": ["a"]}, 400, {"id", "message"}),  # no model
        ("/v2/rerank", {"model": "tiny", "query": "q", "documents": ["a"], "top_n": 0}, 400,
         {"id", "message"}),
        ("/v1/rerank", {"query": "q", "documents": []}, 422, {"detail"}),
        ("/v1/rerank", {"query": "q", "documents": [1, 2]}, 422, {"detail"}),
        ("/rerank", {"query": "q"}, 422, {"error", "error_type"}),
        ("/rerank", {"query": "   ", "texts": ["a"]}, 422, {"error", "error_type"}),
    ],
)
def test_invalid_requests_answer_in_each_format(server, path, body, status, shape) -> None:
    r = httpx.post(server.url + path, json=body, headers=AUTH)
    assert r.status_code == status, r.text
    assert set(r.json()) == shape


@pytest.mark.parametrize(("path", "status", "key"),
                         [("/v2/rerank", 400, "message"), ("/v1/rerank", 422, "detail"),
                          ("/rerank", 422, "error")])
def test_bad_json(server, path, status, key) -> None:
    r = httpx.post(server.url + path, content=b'{"query": "q", "documents": [', headers={
        **AUTH, "Content-Type": "application/json"})
    assert r.status_code == status
    assert "not valid JSON" in r.json()[key]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
     {"Authorization": KEY}, {"Authorization": "Bearer " + KEY[:-1]}],
)
def test_auth_failures_all_look_the_same(server, headers) -> None:
    body = {"model": "tiny", "query": "q", "documents": ["a"]}
    r = httpx.post(server.url + "/v2/rerank", json=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["message"] == (
        "invalid or missing API key: send 'Authorization: Bearer <key>'")
    tei = httpx.post(server.url + "/rerank", json={"query": "q", "texts": ["a"]}, headers=headers)
    assert tei.status_code == 401 and tei.json()["error_type"] == "Unauthorized"
    assert httpx.get(server.url + "/v1/models", headers=headers).status_code == 401


def test_every_listed_key_works(server) -> None:
    for key in (KEY, "other-key"):
        r = httpx.post(server.url + "/v1/rerank", json={"query": "q", "documents": ["a"]},
                       headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200


def test_size_limits_give_413_with_a_clear_message(server) -> None:
    r = httpx.post(server.url + "/v2/rerank", headers=AUTH,
                   json={"model": "tiny", "query": "q", "documents": ["a"] * 51})
    assert r.status_code == 413
    assert r.json()["message"] == (
        "51 documents in one request; this server accepts at most 50: split the request")
    r = httpx.post(server.url + "/rerank", headers=AUTH,
                   json={"query": "q", "texts": ["short", "x" * 2001]})
    assert r.status_code == 413
    assert r.json() == {"error": "document 1 has 2001 characters; this server accepts at most "
                        "2000 per document: shorten or split it", "error_type": "Validation"}


def test_health_and_models(server) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok",
                                                        "models": ["lexical", "tiny"]}
    models = httpx.get(server.url + "/v1/models", headers=AUTH).json()
    assert models["object"] == "list"
    tiny = models["data"][0]
    assert tiny["id"] == "tiny" and tiny["backend"] == "cross-encoder" and tiny["batching"]
    assert models["data"][1]["top_n"] == 2 and not models["data"][1]["batching"]
