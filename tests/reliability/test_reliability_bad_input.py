"""The bad-input matrix: every odd input ends in a typed error or a documented behaviour.

Each case runs through the core (``rank`` and ``arank``), the LangChain compressor and the
LlamaIndex postprocessor (see ``reliability/helpers.py``: ``SURFACES``), for a lexical backend
(``bm25``) and a local model (``embedding`` on the packaged all-MiniLM-L6-v2). The table in
docs/reliability.md lists the same cases and outcomes.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pytest

from rag_rerankers import init_reranker, list_backends
from rag_rerankers.errors import BackendError, ConfigError, InvalidInputError, ModelNotFoundError

from fakes import FixedReranker
from reliability.helpers import (
    SURFACES,
    ScriptedServer,
    core,
    indices,
    is_permutation,
    langchain,
    provider_body,
    scores,
    sorted_desc,
)

BACKENDS = ["bm25", "embedding"]


@pytest.fixture(scope="module")
def bm25():
    return init_reranker("bm25")


@pytest.fixture(params=BACKENDS)
def rr(request, minilm, bm25):
    return bm25 if request.param == "bm25" else minilm


@pytest.fixture(params=list(SURFACES))
def surface(request):
    return SURFACES[request.param]


# --------------------------------------------------------------------------- candidates
def test_empty_candidate_list_returns_empty(rr, surface) -> None:
    assert surface(rr, "anything", []) == []


def test_empty_candidates_still_check_the_query(rr, surface) -> None:
    with pytest.raises(InvalidInputError, match="query is empty"):
        surface(rr, "  ", [])


@pytest.mark.parametrize("bad", [None, 3, b"bytes"])
def test_non_string_candidate_text_names_its_index(rr, surface, bad) -> None:
    with pytest.raises(InvalidInputError, match="document 1 is"):
        surface(rr, "apple", ["apple", bad, "pear"])


@pytest.mark.parametrize("bad", ["one string", None, {"a": 1}, 42])
@pytest.mark.parametrize("path", [core, langchain])
def test_candidates_that_are_not_a_list(bm25, path, bad) -> None:
    with pytest.raises(InvalidInputError, match="documents must be a sequence"):
        path(bm25, "apple", bad)


def test_generator_is_rejected_by_the_core_and_accepted_by_langchain(bm25) -> None:
    with pytest.raises(InvalidInputError, match="got generator"):
        core(bm25, "apple", (t for t in ["apple", "pear"]))
    # LangChain's own contract is Sequence[Document]; the adapter lists any iterable first.
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    out = RerankCompressor(reranker=bm25, top_n=None).compress_documents(
        (Document(t) for t in ["pear", "apple"]), "apple"
    )
    assert [d.page_content for d in out] == ["apple", "pear"]


def test_langchain_rejects_plain_strings_with_a_hint(bm25) -> None:
    from langchain_rerankers import RerankCompressor

    with pytest.raises(InvalidInputError, match="document 0 is str, not a langchain Document"):
        RerankCompressor(reranker=bm25).compress_documents(["apple"], "apple")


def test_llamaindex_rejects_bare_nodes_before_any_event(bm25) -> None:
    from llama_index.core.schema import TextNode

    from llamaindex_rerankers import RerankPostprocessor

    with pytest.raises(InvalidInputError, match="node 0 is TextNode, not NodeWithScore"):
        RerankPostprocessor(reranker=bm25).postprocess_nodes([TextNode(text="a")], query_str="a")


# --------------------------------------------------------------------------- query
@pytest.mark.parametrize("query", ["", " ", "\t\n ", "\u3000\u00a0"])
def test_empty_or_whitespace_query(rr, surface, query) -> None:
    with pytest.raises(InvalidInputError, match="query is empty or whitespace"):
        surface(rr, query, ["apple", "pear"])


@pytest.mark.parametrize("query", [None, b"apple", 3])
def test_non_string_query(bm25, surface, query) -> None:
    with pytest.raises(InvalidInputError, match="query must be a str"):
        surface(bm25, query, ["apple", "pear"])


# --------------------------------------------------------------------------- size
def _one_megabyte(needle: str = "") -> str:
    filler = "lorem ipsum dolor sit amet consectetur " * (1_048_576 // 39)
    return filler + needle


def test_one_megabyte_document_bm25(bm25, surface) -> None:
    big = _one_megabyte()
    assert len(big) >= 1_000_000
    start = time.perf_counter()
    out = surface(bm25, "apple pie recipe", [big, "apple pie recipe", "pear"])
    assert time.perf_counter() - start < 30
    assert indices(out)[0] == 1 and is_permutation(out, 3)


def test_one_megabyte_document_local_model_is_truncated_not_fatal(minilm) -> None:
    # The model reads its first 256 tokens; the whole text is tokenized first (seconds).
    out = core(minilm, "apple pie recipe", [_one_megabyte(), "apple pie recipe", "pear"])
    assert indices(out)[0] == 1 and is_permutation(out, 3)
    assert all(math.isfinite(s) for s in scores(out))


def test_ten_thousand_candidates_bm25(bm25, surface) -> None:
    docs = [f"note {i} about topic t{i % 97} and item k{i}" for i in range(10_000)]
    docs[7_777] = "the unique zebra crossing manual"
    start = time.perf_counter()
    out = surface(bm25, "zebra crossing", docs, top_n=5)
    assert time.perf_counter() - start < 60
    assert len(out) == 5 and indices(out)[0] == 7_777


def test_ten_thousand_candidates_keep_all(bm25) -> None:
    docs = [f"note {i} about topic t{i % 97}" for i in range(10_000)]
    out = core(bm25, "topic t5", docs, top_n=None)
    assert is_permutation(out, 10_000) and sorted_desc(scores(out))


# --------------------------------------------------------------------------- unicode
UNICODE_DOCS = [
    "🍎🍏 apple emoji 🍎",
    "مرحبا بالعالم هذا نص عربي",  # RTL (Arabic)
    "שלום עולם טקסט בעברית",  # RTL (Hebrew)
    "cafe\u0301 au lait",  # decomposed é (e + combining acute)
    "Z\u0351\u0334a\u0337\u0330l\u0334g\u0336o\u0335 text",  # stacked combining marks
    "nul\x00byte\x00inside",
    "\x00\x00\x00",
    "plain english sentence about trains",
    "👨‍👩‍👧‍👦 family ZWJ sequence",
    "\u202eright-to-left override\u202c",
]


UNICODE_QUERIES = ["apple 🍎", "مرحبا", "café", "nul\x00byte", "\x00 trains", "👨‍👩‍👧‍👦"]


def _check_unicode(rr, surface, query) -> None:
    first = surface(rr, query, UNICODE_DOCS)
    assert is_permutation(first, len(UNICODE_DOCS))
    assert all(math.isfinite(s) for s in scores(first)) and sorted_desc(scores(first))
    assert surface(rr, query, UNICODE_DOCS) == first  # deterministic


@pytest.mark.parametrize("query", UNICODE_QUERIES)
def test_unicode_edge_cases_bm25(bm25, surface, query) -> None:
    _check_unicode(bm25, surface, query)


def test_unicode_edge_cases_local_model(minilm, surface) -> None:
    # One mixed query per surface: a local model costs ~1 s per call on a busy CI machine.
    _check_unicode(minilm, surface, "مرحبا 🍎 cafe\u0301 nul\x00byte 👨‍👩‍👧‍👦")


def test_unicode_ranking_is_meaningful(rr) -> None:
    assert indices(core(rr, "مرحبا بالعالم", UNICODE_DOCS))[0] == 1
    assert indices(core(rr, "trains", UNICODE_DOCS))[0] == 7


def test_bm25_treats_composed_and_decomposed_accents_alike(bm25) -> None:
    docs = ["caf\u00e9 au lait", "cafe\u0301 au lait", "cafe society"]
    out = core(bm25, "caf\u00e9", docs)
    assert out[0][1] == out[1][1] > out[2][1]
    assert core(bm25, "cafe\u0301", docs) == out


@pytest.mark.parametrize("where", ["query", "document"])
def test_lone_surrogates_are_rejected(rr, surface, where) -> None:
    query, docs = ("apple", ["apple", "bad \ud800 text"])
    if where == "query":
        query, docs = ("bad \udfff", ["apple"])
    match = "the query contains a lone surrogate" if where == "query" else "document 1 contains"
    with pytest.raises(InvalidInputError, match=match):
        surface(rr, query, docs)


# --------------------------------------------------------------------------- duplicates
def test_duplicates_are_all_kept_adjacent_in_input_order(rr, surface) -> None:
    docs = ["red apple pie", "blue sky today", "red apple pie", "green grass", "red apple pie"]
    out = surface(rr, "red apple pie", docs)
    assert is_permutation(out, 5)
    top = scores(out)[:3]
    assert top[0] == pytest.approx(top[1], abs=1e-5) == pytest.approx(top[2], abs=1e-5)
    # Identical texts are scored once (dedup="keep"), so copies tie exactly and keep input order.
    assert indices(out)[:3] == [0, 2, 4]
    assert top[0] == top[1] == top[2]


# --------------------------------------------------------------------------- top_n
@pytest.mark.parametrize("top_n", [0, -1, -100, True, 1.5, "3"])
def test_invalid_top_n(bm25, surface, top_n) -> None:
    with pytest.raises(InvalidInputError, match="top_n must be None"):
        surface(bm25, "apple", ["apple", "pear"], top_n=top_n)


@pytest.mark.parametrize("top_n", [1, 2, 3, 1_000, np.int64(2), None])
def test_top_n_valid_including_larger_than_the_list(bm25, surface, top_n) -> None:
    docs = ["apple", "pear", "apple pear"]
    out = surface(bm25, "apple", docs, top_n=top_n)
    assert len(out) == (3 if top_n is None else min(int(top_n), 3))


def test_top_n_larger_than_the_list_local_model(minilm, surface) -> None:
    assert is_permutation(surface(minilm, "apple", ["apple", "pear"], top_n=50), 2)


# --------------------------------------------------------------------------- backend scores
def test_nan_and_infinite_scores_are_ordered_and_reported(surface, caplog) -> None:
    rr = FixedReranker([1.0, math.nan, math.inf, -math.inf, 0.5, math.nan])
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        out = surface(rr, "q", list("abcdef"))
    assert indices(out) == [2, 0, 4, 3, 1, 5]  # +inf first, -inf before NaN, NaN last
    assert scores(out)[:4] == [math.inf, 1.0, 0.5, -math.inf]
    assert all(math.isnan(s) for s in scores(out)[4:])
    assert "NaN scores" in caplog.text


@pytest.mark.parametrize("bad", [[None, 1.0], ["high", 1.0], [object(), 1.0]])
def test_non_numeric_backend_scores(surface, bad) -> None:
    with pytest.raises(BackendError, match="not a number"):
        surface(FixedReranker(bad), "q", ["a", "b"])


@pytest.mark.parametrize("bad", [[1.0], [1.0, 2.0, 3.0], []])
def test_wrong_number_of_backend_scores(surface, bad) -> None:
    with pytest.raises(BackendError, match=r"returned \d+ scores for 2 documents"):
        surface(FixedReranker(bad), "q", ["a", "b"])


def test_numpy_scores_are_accepted(surface) -> None:
    out = surface(FixedReranker(np.array([0.1, 0.9], dtype=np.float32)), "q", ["a", "b"])
    assert indices(out) == [1, 0] and all(type(s) is float for s in scores(out))


# --------------------------------------------------------------------------- config strings
MALFORMED = [
    "", "   ", ":", "bm25:", "bm25?", "bm25?top_n", "bm25?top_n=", "bm25?top_n=abc",
    "bm25?top_n=1&top_n=2", "bm25?top_n=1.5", "bm25?=1", "bm25?&", "bm25?top_n=1&&k1=2",
    "bm25?%zz=1", "bm25?k1=%zz", "nope", "bm25?unknown=1", "bm25#x", "b m25", "bm25\x00",
    "bm25?k1=inf", "bm25?k1=nan", "bm25?k1=1e999", "bm25?TOP_N=2", "bm25?model=x",
    "bm25:some-model", "bm25::x", "bm25?stopwords=klingon",
    "bm25?method=bm26", "bm25?top_n=true", "embedding?offline=maybe",
    "embedding?offline=true&batch_size=0", "embedding?offline=true&batch_size=-3",
    "embedding?offline=true&device=nonsense",
    "bm25 |", "| bm25", "bm25 || bm25", "bm25?normalize=x | bm25",
    "bm25?dedup=keep | bm25?dedup=collapse", "bm25?fallbacks=nope", "bm25?score_threshold=nan",
]


@pytest.mark.parametrize("spec", MALFORMED)
def test_malformed_config_strings_are_config_errors(spec) -> None:
    with pytest.raises(ConfigError):
        init_reranker(spec)


@pytest.mark.parametrize("spec", ["bm25?top_n=abc", "bm25:m", "nope", "bm25?k1=1e999"])
def test_malformed_config_strings_through_the_adapters(spec) -> None:
    from langchain_rerankers import RerankCompressor
    from llamaindex_rerankers import RerankPostprocessor

    with pytest.raises(ConfigError):
        RerankCompressor(reranker=spec)
    with pytest.raises(ConfigError):
        RerankPostprocessor(reranker=spec)


@pytest.mark.parametrize("spec", [None, b"bm25", 3, {}, {"backend": "bm25", 1: 2}])
def test_non_string_specs_are_config_errors(spec) -> None:
    with pytest.raises(ConfigError):
        init_reranker(spec)


@pytest.mark.parametrize("spec", ["bm25?top_n=0", "bm25?top_n=-1"])
def test_out_of_range_top_n_in_a_config_string(spec) -> None:
    with pytest.raises(InvalidInputError, match="top_n must be None"):
        init_reranker(spec)


def test_missing_model_folder_is_a_model_error() -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        init_reranker("embedding:/no/such/folder")


def test_config_strings_that_are_fine_despite_looking_odd() -> None:
    assert init_reranker(" BM25 ").backend == "bm25"
    assert init_reranker("bm25?stopwords=none").stopwords is None
    assert init_reranker("bm25?stopwords=norwegian").rank("hei", ["hei og"])[0].index == 0
    # A text option takes the text as written: "no" is Norwegian, not the boolean false.
    assert init_reranker("bm25?stopwords=no").stopwords == "no"


# --------------------------------------------------------------------------- API backends
API = tuple(b["name"] for b in list_backends() if b["kind"] == "api")
API_KEY = "sk-reliability-0000"


@pytest.fixture(scope="module")
def fake_server():
    from rag_rerankers.testing import FakeRerankServer

    with FakeRerankServer(api_key=API_KEY) as srv:
        yield srv


def _api(provider: str, base_url: str, **options):
    opts = {"api_key": API_KEY, "base_url": base_url, "max_retries": 2, "backoff": 0.001,
            "timeout": 5.0, **options}
    return init_reranker(provider, **opts)


def _want(query: str, docs: list[str]) -> list[int]:
    from rag_rerankers.testing import lexical_score

    s = [lexical_score(query, d) for d in docs]
    return sorted(range(len(docs)), key=lambda i: (-s[i], i))


@pytest.mark.parametrize("provider", API)
def test_api_inputs_rejected_before_any_request(fake_server, surface, provider) -> None:
    rr = _api(provider, fake_server.base_url(provider))
    before = fake_server.request_count
    assert surface(rr, "apple", []) == []
    for query, docs, error in [
        ("  ", ["apple"], "query is empty"),
        ("apple", ["apple", None], "document 1 is"),
        ("apple", ["apple", "bad \ud800"], "document 1 contains a lone surrogate"),
    ]:
        with pytest.raises(InvalidInputError, match=error):
            surface(rr, query, docs)
    with pytest.raises(InvalidInputError, match="top_n must be None"):
        surface(rr, "apple", ["apple"], top_n=0)
    assert fake_server.request_count == before


@pytest.mark.parametrize("provider", API)
def test_api_unicode_duplicates_and_large_top_n(fake_server, surface, provider) -> None:
    rr = _api(provider, fake_server.base_url(provider))
    docs = [*UNICODE_DOCS, "plain english sentence about trains"]  # a duplicate of 7
    out = surface(rr, "trains مرحبا 🍎", docs, top_n=1_000)
    assert indices(out) == _want("trains مرحبا 🍎", docs)
    assert indices(out).index(7) + 1 == indices(out).index(10)  # copies adjacent, input order


def test_api_one_megabyte_document_and_ten_thousand_candidates(fake_server) -> None:
    rr = _api("jina", fake_server.base_url("jina"))
    docs = [_one_megabyte("zebra"), "zebra crossing", "pear"]
    assert indices(core(rr, "zebra crossing", docs)) == _want("zebra crossing", docs)
    many = [f"note {i} topic t{i % 97}" for i in range(10_000)]
    many[4_321] = "zebra crossing manual"
    before = fake_server.request_count
    out = core(rr, "zebra crossing", many, top_n=3)
    assert indices(out)[0] == 4_321 and fake_server.request_count - before == 10  # 1 000 each


# Provider answers the fake server never gives: (pairs for 3 documents, error message).
BAD_ANSWERS = {
    "too-few": ([(0, 0.9), (1, 0.5)], "has 2 results, expected 3"),
    "too-many": ([(0, 0.9), (1, 0.5), (2, 0.1), (0, 0.3)], "appears twice"),
    "duplicate": ([(0, 0.9), (0, 0.5), (1, 0.1)], "appears twice"),
    "out-of-range": ([(0, 0.9), (1, 0.5), (3, 0.1)], "out of range|not a valid document"),
    "negative": ([(0, 0.9), (1, 0.5), (-1, 0.1)], "out of range"),
    "float-index": ([(0.5, 0.9), (1, 0.5), (2, 0.1)], "out of range|not a valid document|shape"),
    "text-score": ([(0, "high"), (1, 0.5), (2, 0.1)], "unexpected response shape"),
    "null-score": ([(0, None), (1, 0.5), (2, 0.1)], "unexpected response shape"),
    # Issue 13: values an SDK or float() would coerce are refused, not converted.
    "string-score": ([(0, "0.9"), (1, 0.5), (2, 0.1)], "unexpected response shape"),
    "bool-score": ([(0, True), (1, 0.5), (2, 0.1)], "unexpected response shape"),
    "integral-float-index": ([(1.0, 0.9), (0, 0.5), (2, 0.1)], "out of range|not a valid document|shape|not an integer"),
    "string-index": ([("1", 0.9), (0, 0.5), (2, 0.1)], "out of range|not a valid document|shape|not an integer"),
    "bool-index": ([(True, 0.9), (0, 0.5), (2, 0.1)], "out of range|not a valid document|shape|not an integer"),
}


@pytest.fixture(scope="module")
def scripted():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.mark.parametrize("answer", list(BAD_ANSWERS))
@pytest.mark.parametrize("provider", API)
@pytest.mark.parametrize("path", ["core", "core-async"])
def test_api_bad_provider_answers_are_typed_and_not_retried(scripted, provider, answer, path):
    from rag_rerankers.errors import APIResponseError

    pairs, message = BAD_ANSWERS[answer]
    scripted.payload = provider_body(provider, pairs)
    scripted.requests = 0
    rr = _api(provider, scripted.base_url(provider))
    with pytest.raises(APIResponseError, match=message) as info:
        SURFACES[path](rr, "q", ["a", "b", "c"])
    assert info.value.status == 200 and info.value.attempts == 1 and scripted.requests == 1


@pytest.mark.parametrize("provider", API)
def test_api_bad_provider_answer_through_the_adapters(scripted, provider) -> None:
    from rag_rerankers.errors import APIResponseError

    scripted.payload = provider_body(provider, BAD_ANSWERS["duplicate"][0])
    rr = _api(provider, scripted.base_url(provider))
    for path in ("langchain", "llamaindex"):
        with pytest.raises(APIResponseError, match="appears twice"):
            SURFACES[path](rr, "q", ["a", "b", "c"])


@pytest.mark.parametrize("provider", API)
def test_api_non_finite_scores_are_ranked_not_fatal(scripted, surface, provider) -> None:
    scripted.payload = provider_body(provider, [(0, math.nan), (1, math.inf), (2, 0.1)])
    out = surface(_api(provider, scripted.base_url(provider)), "q", ["a", "b", "c"])
    assert indices(out) == [1, 2, 0] and math.isnan(scores(out)[2])
