"""Fallback chains and on_error: a typed provider failure, then bm25 / embedding take over."""

from __future__ import annotations

import logging
import math

import pytest

from rag_rerankers import ConfigError, init_reranker
from rag_rerankers.errors import AllRerankersFailedError

from controls.helpers import FailingReranker, UpstreamError

DOCS = ["baking bread at home", "oil the bicycle chain", "a bicycle with a flat tyre"]
QUERY = "bicycle chain"

pytestmark = pytest.mark.usefixtures("failing_backend")  # the "test-failing" backend


def test_raise_is_the_default_without_fallbacks():
    with pytest.raises(UpstreamError):
        FailingReranker().rank(QUERY, DOCS)


def test_fallback_to_bm25_names_the_producer_and_logs_the_cause(caplog):
    primary = FailingReranker().configure(fallbacks=[init_reranker("bm25")])
    expected = init_reranker("bm25").rank(QUERY, DOCS)
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        items = primary.rank(QUERY, DOCS)
    assert [(i.index, i.score) for i in items] == [(i.index, i.score) for i in expected]
    assert {i.metadata["reranked_by"] for i in items} == {"bm25"}
    assert all(i.metadata["reranked"] for i in items)
    assert primary.attempts == 1
    [record] = [r for r in caplog.records if "failed" in r.getMessage()]
    message = record.getMessage()
    assert "failing:always-down" in message and "UpstreamError" in message
    assert "503" in message and "falling back to bm25" in message


def test_pipe_syntax_from_a_config_string_with_chain_wide_controls():
    rr = init_reranker("test-failing?top_n=2 | embedding?offline=true&score_threshold=0.5 | bm25")
    assert [f.name for f in rr.ranking_setup.fallbacks] == [
        "embedding:sentence-transformers/all-MiniLM-L6-v2",
        "bm25",
    ]
    assert rr.ranking_setup.controls.on_error == "fallback"
    assert rr.ranking_setup.controls.score_threshold == 0.5
    items = rr.rank(QUERY, DOCS)
    assert len(items) <= 2 and items[0].index == 1
    assert all(i.metadata["reranked_by"].startswith("embedding:") for i in items)
    assert all(i.score >= 0.5 for i in items)


async def test_async_fallback_goes_down_the_whole_chain():
    first, second = FailingReranker("a"), FailingReranker("b")
    rr = first.configure(fallbacks=[second, init_reranker("bm25")])
    items = await rr.arank(QUERY, DOCS)
    assert (first.attempts, second.attempts) == (1, 1)
    assert items[0].index == 1 and items[0].metadata["reranked_by"] == "bm25"


def test_fallback_when_every_reranker_fails_raises_a_typed_error_with_each_cause():
    rr = FailingReranker("a").configure(fallbacks=[FailingReranker("b")])
    with pytest.raises(AllRerankersFailedError) as info:
        rr.rank(QUERY, DOCS)
    assert [name for name, _ in info.value.errors] == ["failing:a", "failing:b"]
    assert isinstance(info.value.__cause__, UpstreamError)


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_passthrough_keeps_retrieval_order_and_says_so(asynchronous, caplog):
    rr = FailingReranker().configure(on_error="passthrough", top_n=None, score_threshold=0.9)
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        items = await rr.arank(QUERY, DOCS, top_n=2) if asynchronous else rr.rank(QUERY, DOCS, top_n=2)
    assert [i.index for i in items] == [0, 1]  # top_n holds; the threshold has no scores to use
    assert all(i.metadata["reranked"] is False for i in items)
    assert all(math.isnan(i.score) and i.metadata["raw_score"] is None for i in items)
    assert "UpstreamError" in items[0].metadata["rerank_error"]
    assert any("keeping the retrieval order" in r.getMessage() for r in caplog.records)


def test_passthrough_after_a_failing_chain_and_raise_ignores_fallbacks():
    rr = init_reranker("test-failing | test-failing:other", on_error="passthrough")
    assert [i.index for i in rr.rank(QUERY, DOCS)] == [0, 1, 2]
    strict = init_reranker("test-failing | bm25", on_error="raise")
    with pytest.raises(UpstreamError):
        strict.rank(QUERY, DOCS)


def test_fallbacks_from_a_dict_and_keyword():
    rr = init_reranker({"backend": "test-failing", "fallbacks": ["bm25"]})
    assert rr.rank(QUERY, DOCS)[0].metadata["reranked_by"] == "bm25"
    kw = init_reranker("test-failing", fallbacks=[{"backend": "bm25", "k1": 1.2}])
    assert kw.ranking_setup.fallbacks[0].k1 == 1.2


def test_conflicting_controls_in_a_chain_are_rejected():
    with pytest.raises(ConfigError, match="whole chain"):
        init_reranker("bm25?score_threshold=0.1 | bm25?score_threshold=0.2")
    with pytest.raises(ConfigError, match="empty reranker"):
        init_reranker("bm25 | ")


# ----------------------------------------------------------------- members that cannot be built
@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("COHERE_API_KEY", "CO_API_KEY", "JINA_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("spec", ["cohere | bm25", "cohere | jina | bm25"])
def test_a_member_without_its_key_is_skipped_with_a_warning(no_keys, caplog, spec) -> None:
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        rr = init_reranker(spec)
    assert rr.backend == "bm25" and rr.ranking_setup.fallbacks == ()
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == spec.count("|") and "COHERE_API_KEY" in skipped[0]


def test_a_member_without_its_model_is_skipped(tmp_path) -> None:
    rr = init_reranker(f"flashrank?offline=true&cache_dir={tmp_path} | bm25")
    assert rr.backend == "bm25"


def test_fallbacks_given_as_an_option_skip_the_same_way(no_keys) -> None:
    rr = init_reranker("cohere?top_n=2", fallbacks=["jina", "bm25"])
    assert (rr.backend, rr.top_n) == ("bm25", 2)  # top_n applies to the chain, as with "|"


def test_only_when_no_member_can_be_built_is_it_an_error(no_keys) -> None:
    from rag_rerankers import MissingCredentialsError

    with pytest.raises(MissingCredentialsError, match="COHERE_API_KEY"):
        init_reranker("cohere | jina")
    with pytest.raises(MissingCredentialsError):
        init_reranker("cohere | bm25", on_error="raise")  # no skipping asked for


@pytest.mark.parametrize("spec", ["cohere | bm25?k1=x", "cohere | bm25?typo=1", "cohere?top_n=0 | bm25"])
def test_typos_and_bad_values_stay_errors(no_keys, spec) -> None:
    with pytest.raises(Exception) as info:
        init_reranker(spec)
    assert isinstance(info.value, (ConfigError, ValueError))
    assert "needs an API key" not in str(info.value)
