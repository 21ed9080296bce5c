"""flashrank backend: a tiny BERT exported to ONNX in FlashRank's cache layout, opened by
``flashrank.Ranker`` itself (no download), checked against ``Ranker.rerank`` and LangChain's
``FlashrankRerank``."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from rag_rerankers import ConfigError, ModelNotFoundError, init_reranker
from rag_rerankers.backends.flashrank import FlashRankReranker
from rag_rerankers.types import ScoreType

from local.helpers import DOCS, FLASHRANK_NAME, QUERY, tiny_model


def _reference(cache, max_length: int = 512) -> dict[int, float]:
    from flashrank import Ranker, RerankRequest

    ranker = Ranker(FLASHRANK_NAME, cache_dir=str(cache), max_length=max_length)
    out = ranker.rerank(
        RerankRequest(query=QUERY, passages=[{"id": i, "text": t} for i, t in enumerate(DOCS)])
    )
    return {p["id"]: float(p["score"]) for p in out}


@pytest.mark.parametrize("max_length", [512, 24])
def test_scores_equal_flashrank_rerank(max_length: int) -> None:
    cache = tiny_model("flashrank")
    rr = init_reranker(f"flashrank?cache_dir={cache}&max_length={max_length}&batch_size=2")
    assert isinstance(rr, FlashRankReranker) and rr.score_type is ScoreType.PROBABILITY
    ref = _reference(cache, max_length)
    np.testing.assert_allclose(rr.score(QUERY, DOCS), [ref[i] for i in range(len(DOCS))], atol=1e-5)
    assert [i.index for i in rr.rank(QUERY, DOCS)] == sorted(ref, key=lambda i: -ref[i])


def test_batch_tokens_do_not_change_scores() -> None:
    cache = tiny_model("flashrank")
    ref = _reference(cache, 512)
    for tokens in (0, 40):
        rr = init_reranker(f"flashrank?cache_dir={cache}&batch_tokens={tokens}")
        np.testing.assert_allclose(rr.score(QUERY, DOCS), [ref[i] for i in range(len(DOCS))], atol=1e-5)


def test_model_folder_and_offline(tmp_path) -> None:
    cache = tiny_model("flashrank")
    by_folder = init_reranker(f"flashrank:{cache / FLASHRANK_NAME}?offline=true")
    by_name = init_reranker("flashrank", cache_dir=str(cache), offline=True)
    assert by_folder._loaded is by_name._loaded  # one ONNX session for both
    # A folder with any name works when it holds exactly one .onnx file.
    renamed = tmp_path / "my-flashrank-model"
    shutil.copytree(cache / FLASHRANK_NAME, renamed)
    other = init_reranker(f"flashrank:{renamed}")
    np.testing.assert_allclose(other.score(QUERY, DOCS), by_name.score(QUERY, DOCS), atol=1e-6)


def test_missing_model_offline_names_the_folder(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match=str(tmp_path / FLASHRANK_NAME)):
        init_reranker("flashrank", cache_dir=str(tmp_path), offline=True)
    with pytest.raises(ModelNotFoundError, match="nowhere"):
        init_reranker(f"flashrank:{tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="unknown FlashRank model"):
        init_reranker("flashrank:no-such-flashrank-model", cache_dir=str(tmp_path))


def test_truncation_warning_and_root_logger_untouched(caplog) -> None:
    cache = tiny_model("flashrank")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    rr = init_reranker("flashrank", cache_dir=str(cache), max_length=20)
    assert list(root.handlers) == handlers and root.level == level
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        rr.score(QUERY, DOCS)
        rr.score(QUERY, DOCS)
    msgs = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(msgs) == 1 and "of 7 documents were truncated to max_length=20" in msgs[0]


def test_device_must_be_cpu() -> None:
    with pytest.raises(ConfigError):
        init_reranker("flashrank?device=cuda")


async def test_async_matches_sync() -> None:
    cache = tiny_model("flashrank")
    rr = init_reranker("flashrank", cache_dir=str(cache))
    got = await rr.arank(QUERY, DOCS)
    assert [i.index for i in got] == [i.index for i in rr.rank(QUERY, DOCS)]


def test_same_order_as_langchain_flashrank_rerank() -> None:
    from flashrank import Ranker
    from langchain_community.document_compressors import FlashrankRerank
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    cache = tiny_model("flashrank")
    docs = [Document(d, metadata={"i": i}) for i, d in enumerate(DOCS)]
    theirs = FlashrankRerank(
        client=Ranker(FLASHRANK_NAME, cache_dir=str(cache)), top_n=len(docs)
    ).compress_documents(docs, QUERY)
    ours = RerankCompressor(reranker=f"flashrank?cache_dir={cache}", top_n=len(docs))
    got = ours.compress_documents(docs, QUERY)
    assert [d.metadata["i"] for d in got] == [d.metadata["i"] for d in theirs]
    np.testing.assert_allclose(
        [d.metadata["relevance_score"] for d in got],
        [d.metadata["relevance_score"] for d in theirs],
        atol=1e-5,
    )


def test_local_backend_options_do_not_shadow_ranking_controls() -> None:
    from rag_rerankers.registry import CONTROL_OPTION_NAMES, get_backend

    for name in ("cross-encoder", "flashrank", "mxbai", "colbert"):
        info, _ = get_backend(name)
        assert not {o.name for o in info.all_options()} & CONTROL_OPTION_NAMES, name
