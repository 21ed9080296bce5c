"""cross-encoder backend: tiny random BERT and XLM-RoBERTa models built offline, loaded through
the real sentence-transformers loading code, checked against ``CrossEncoder.predict`` and
against LangChain's and LlamaIndex's own cross-encoder rerankers."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from rag_rerankers import ConfigError, ModelNotFoundError, init_reranker, release_models
from rag_rerankers.backends.cross_encoder import CrossEncoderReranker
from rag_rerankers.models import MODEL_CACHE
from rag_rerankers.registry import get_backend
from rag_rerankers.types import ScoreType

from local.helpers import DOCS, QUERY, minilm_folder, tiny_model

KINDS = ["bert", "bert2", "xlmr", "xlmr2"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _st_reference(folder, docs=DOCS) -> np.ndarray:
    """sentence-transformers' own scores, as probabilities of "relevant"."""
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(folder), local_files_only=True)
    pairs = [(QUERY, d) for d in docs]
    if ce.num_labels == 1:
        return ce.predict(pairs, activation_fn=torch.nn.Sigmoid())
    return ce.predict(pairs, apply_softmax=True)[:, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_scores_equal_sentence_transformers_predict(kind: str) -> None:
    folder = tiny_model(kind)
    rr = init_reranker(f"cross-encoder:{folder}?batch_size=3")
    assert rr.score_type is ScoreType.LOGIT
    assert rr.num_labels == (2 if kind.endswith("2") else 1)
    ours = _sigmoid(np.array(rr.score(QUERY, DOCS)))
    np.testing.assert_allclose(ours, _st_reference(folder), atol=1e-5)
    # The ranking is the reference's ranking.
    assert [i.index for i in rr.rank(QUERY, DOCS)] == list(np.argsort(-_st_reference(folder), kind="stable"))


def test_two_logit_head_uses_the_logit_difference() -> None:
    folder = tiny_model("bert2")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    with torch.inference_mode():
        logits = model(**tok([QUERY] * len(DOCS), DOCS, padding=True, return_tensors="pt")).logits
    expected = (logits[:, 1] - logits[:, 0]).numpy()
    ours = init_reranker(f"cross-encoder:{folder}").score(QUERY, DOCS)
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_batching_does_not_change_scores() -> None:
    folder = tiny_model("xlmr")
    one = init_reranker(f"cross-encoder:{folder}?batch_size=1").score(QUERY, DOCS)
    many = init_reranker(f"cross-encoder:{folder}?batch_size=64").score(QUERY, DOCS)
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_batch_token_budget_bounds_every_forward_pass(monkeypatch) -> None:
    folder = tiny_model("bert")
    docs = [d * (1 + i % 3) for i, d in enumerate(DOCS * 3)]  # lengths spread 1x-3x
    ref = init_reranker(f"cross-encoder:{folder}?batch_tokens=0").score(QUERY, docs)
    rr = init_reranker(f"cross-encoder:{folder}?batch_tokens=96&batch_size=64")
    shapes: list[tuple[int, int]] = []
    runtime = rr._loaded.model
    real_run = runtime.run

    def spy(features):
        shapes.append(features["input_ids"].shape)
        return real_run(features)

    monkeypatch.setattr(runtime, "run", spy)
    np.testing.assert_allclose(rr.score(QUERY, docs), ref, atol=1e-5)
    assert sum(rows for rows, _ in shapes) == len(docs)  # every pair scored exactly once
    assert len(shapes) > 1
    for rows, width in shapes:  # within the budget (a longer single pair goes alone)
        assert rows * width <= 96 or rows == 1


def test_batch_tokens_default_is_a_cpu_budget() -> None:
    from rag_rerankers.backends._local import CPU_BATCH_TOKENS

    folder = tiny_model("bert")
    assert init_reranker(f"cross-encoder:{folder}?device=cpu").token_budget == CPU_BATCH_TOKENS
    assert init_reranker(f"cross-encoder:{folder}?batch_tokens=0").token_budget is None
    assert init_reranker(f"cross-encoder:{folder}?batch_tokens=4096").token_budget == 4096
    assert init_reranker(f"cross-encoder:{folder}?engine=onnx").token_budget == CPU_BATCH_TOKENS


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "true"])
def test_bad_batch_tokens(value: str) -> None:
    with pytest.raises(ConfigError, match="batch_tokens"):
        init_reranker(f"cross-encoder?batch_tokens={value}")


def test_registry_defaults_and_alias() -> None:
    info, model = get_backend("bge")
    assert info.name == "cross-encoder" and model == "BAAI/bge-reranker-v2-m3"
    assert get_backend("cross-encoder")[1] == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    names = {o.name for o in info.all_options()}
    assert {"max_length", "batch_size", "batch_tokens", "device", "dtype", "offline", "engine", "quantize", "amp"} <= names


def test_bge_alias_loads_a_local_folder_too() -> None:
    folder = tiny_model("xlmr")
    rr = init_reranker(f"bge:{folder}?offline=true")
    assert isinstance(rr, CrossEncoderReranker)
    assert rr.rank(QUERY, DOCS)[0].index == int(np.argmax(_st_reference(folder)))


def test_missing_folder_names_the_folder(tmp_path) -> None:
    missing = tmp_path / "no-model-here"
    with pytest.raises(ModelNotFoundError, match="no-model-here"):
        init_reranker(f"cross-encoder:{missing}")


def test_empty_folder_names_the_folder(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match=str(tmp_path)):
        init_reranker(f"cross-encoder:{tmp_path}")


def test_uncached_hub_name_offline_names_the_model() -> None:
    with pytest.raises(ModelNotFoundError, match="nobody/no-such-reranker.*offline=true"):
        init_reranker("cross-encoder:nobody/no-such-reranker?offline=true")


def test_model_is_shared_and_releasable() -> None:
    folder = tiny_model("bert")
    a = init_reranker(f"cross-encoder:{folder}?max_length=64")
    b = init_reranker(f"cross-encoder:{folder}?batch_size=4")
    assert a._loaded is b._loaded  # one model in memory, whatever the per-call options
    release_models()
    c = init_reranker(f"cross-encoder:{folder}")
    assert c._loaded is not a._loaded
    np.testing.assert_allclose(a.score(QUERY, DOCS), c.score(QUERY, DOCS), atol=1e-6)


def test_concurrent_first_use_loads_once(monkeypatch) -> None:
    import rag_rerankers.backends.cross_encoder as ce_mod

    folder = tiny_model("bert")
    release_models()
    calls = []
    real = ce_mod._load_st_cross_encoder

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ce_mod, "_load_st_cross_encoder", counting)
    barrier = threading.Barrier(6)

    def build(_: int) -> CrossEncoderReranker:
        barrier.wait()
        return init_reranker(f"cross-encoder:{folder}")

    with ThreadPoolExecutor(6) as pool:
        rerankers = list(pool.map(build, range(6)))
    assert len(calls) == 1
    assert len({id(r._loaded) for r in rerankers}) == 1


def test_concurrent_inference_is_consistent() -> None:
    folder = tiny_model("xlmr")
    rr = init_reranker(f"cross-encoder:{folder}?batch_size=2")
    expected = rr.score(QUERY, DOCS)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: rr.score(QUERY, DOCS), range(16)))
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-6)


async def test_arank_runs_in_a_worker_thread(monkeypatch) -> None:
    folder = tiny_model("bert")
    rr = init_reranker(f"cross-encoder:{folder}")
    threads = []
    real = rr._score

    def spy(query, documents):
        threads.append(threading.current_thread())
        return real(query, documents)

    monkeypatch.setattr(rr, "_score", spy)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(rr.arank(QUERY, DOCS) for _ in range(4)))
    task.cancel()
    assert all(t is not threading.main_thread() for t in threads)
    assert ticks > 0
    assert [i.index for i in results[0]] == [i.index for i in rr.rank(QUERY, DOCS)]


def test_truncation_warns_once_with_the_count(caplog) -> None:
    folder = tiny_model("bert")
    rr = init_reranker(f"cross-encoder:{folder}?max_length=24")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_folder())
    expected_cut = sum(len(tok(QUERY, d)["input_ids"]) > 24 for d in DOCS)
    assert 0 < expected_cut < len(DOCS)
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        rr.score(QUERY, DOCS)
        rr.score(QUERY, DOCS)
    warnings = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{expected_cut} of {len(DOCS)} documents were truncated" in warnings[0].getMessage()
    # Truncated scores are sentence-transformers' scores at the same max_length.
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(folder), max_length=24)
    ref = ce.predict([(QUERY, d) for d in DOCS], activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(rr.score(QUERY, DOCS), ref, atol=1e-5)


def test_fast_paths(caplog) -> None:
    folder = tiny_model("bert")
    base = np.array(init_reranker(f"cross-encoder:{folder}").score(QUERY, DOCS))
    onnx = init_reranker(f"cross-encoder:{folder}?engine=onnx")
    assert onnx._loaded.model.engine == "onnx"
    np.testing.assert_allclose(onnx.score(QUERY, DOCS), base, atol=1e-4)
    int8 = init_reranker(f"cross-encoder:{folder}?quantize=int8")
    assert int8._loaded.model.engine == "torch+int8"
    assert int8._loaded is not onnx._loaded
    q = np.array(int8.score(QUERY, DOCS))
    assert np.isfinite(q).all()
    # Quantization moves scores a little; on real models rankings hold (see the benchmark).
    assert np.corrcoef(q, base)[0, 1] > 0.9
    ox8 = np.array(init_reranker(f"cross-encoder:{folder}?engine=onnx&quantize=int8").score(QUERY, DOCS))
    assert np.corrcoef(ox8, base)[0, 1] > 0.9


@pytest.mark.parametrize("amp", ["bfloat16", "float16"])
def test_amp_is_autocast_on_the_shared_float32_model(amp: str) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tiny_model("xlmr")
    fp32 = init_reranker(f"cross-encoder:{folder}")
    mixed = init_reranker(f"cross-encoder:{folder}?amp={amp}&batch_size=1")
    assert mixed._loaded is fp32._loaded  # no second copy of the weights
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    expected = []
    for doc in DOCS:  # one pair per pass: no padding, so the reference is exact
        with torch.inference_mode(), torch.autocast("cpu", dtype=getattr(torch, amp)):
            expected.append(float(model(**tok(QUERY, doc, return_tensors="pt")).logits.float()[0, 0]))
    ours = np.array(mixed.score(QUERY, DOCS))
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    base = np.array(fp32.score(QUERY, DOCS))
    assert np.abs(ours - base).max() > 0  # reduced-precision products did run
    np.testing.assert_allclose(ours, base, atol=0.05)
    assert next(iter(model.parameters())).dtype == torch.float32


@pytest.mark.parametrize(
    "spec",
    [
        "cross-encoder?engine=tensorrt",
        "cross-encoder?quantize=int4",
        "cross-encoder?engine=onnx&device=cuda",
        "cross-encoder?quantize=int8&dtype=float16",
        "cross-encoder?amp=int8",
        "cross-encoder?amp=bfloat16&dtype=bfloat16",
        "cross-encoder?amp=bfloat16&engine=onnx",
        "cross-encoder?amp=bfloat16&quantize=int8",
    ],
)
def test_bad_fast_path_options(spec: str) -> None:
    with pytest.raises(ConfigError):
        init_reranker(spec)


# ---------------------------------------------------------------- differential tests
def test_same_order_as_langchain_cross_encoder_reranker() -> None:
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    docs = [Document(d, metadata={"i": i}) for i, d in enumerate(DOCS)]
    for kind in ("bert", "xlmr"):
        folder = tiny_model(kind)
        theirs = CrossEncoderReranker(
            model=HuggingFaceCrossEncoder(model_name=str(folder)), top_n=len(docs)
        ).compress_documents(docs, QUERY)
        ours = RerankCompressor(reranker=f"cross-encoder:{folder}", top_n=len(docs))
        got = ours.compress_documents(docs, QUERY)
        assert [d.metadata["i"] for d in got] == [d.metadata["i"] for d in theirs]


def test_same_order_as_llamaindex_sentence_transformer_rerank() -> None:
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, TextNode

    from llamaindex_rerankers import RerankPostprocessor

    nodes = [NodeWithScore(node=TextNode(text=d, id_=str(i)), score=0.0) for i, d in enumerate(DOCS)]
    for kind in ("bert", "xlmr", "bert2"):
        folder = tiny_model(kind)
        ours = RerankPostprocessor(reranker=f"cross-encoder:{folder}", top_n=len(nodes))
        got = ours.postprocess_nodes(nodes, query_str=QUERY)
        theirs = SentenceTransformerRerank(model=str(folder), top_n=len(nodes), device="cpu")
        if kind == "bert2":
            # LlamaIndex cannot sort two-logit heads (it compares numpy arrays and raises);
            # we rank them by the softmax probability of "relevant".
            with pytest.raises(ValueError):
                theirs.postprocess_nodes([n.model_copy() for n in nodes], query_str=QUERY)
            ref = _st_reference(folder)
            assert [n.node.id_ for n in got] == [str(i) for i in np.argsort(-ref, kind="stable")]
        else:
            expected = theirs.postprocess_nodes([n.model_copy() for n in nodes], query_str=QUERY)
            assert [n.node.id_ for n in got] == [n.node.id_ for n in expected]


# ---------------------------------------------------------------- interop
def test_langchain_base_cross_encoder_is_a_backend() -> None:
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor
    from rag_rerankers.backends.langchain_cross_encoder import LangChainCrossEncoderReranker

    folder = tiny_model("bert")
    hf = HuggingFaceCrossEncoder(model_name=str(folder))
    rr = init_reranker(hf)
    assert isinstance(rr, LangChainCrossEncoderReranker)
    assert rr.model == str(folder)
    ours = init_reranker(f"cross-encoder:{folder}")
    assert [i.index for i in rr.rank(QUERY, DOCS)] == [i.index for i in ours.rank(QUERY, DOCS)]
    comp = RerankCompressor(reranker=hf, top_n=2)
    out = comp.compress_documents([Document(d) for d in DOCS], QUERY)
    assert [d.page_content for d in out] == [i.document for i in ours.rank(QUERY, DOCS, top_n=2)]
    with pytest.raises(ConfigError):
        init_reranker(hf, top_n=2)


def test_other_objects_are_still_rejected() -> None:
    with pytest.raises(ConfigError):
        init_reranker(42)  # type: ignore[arg-type]


def test_model_cache_keys_include_the_fast_path() -> None:
    folder = tiny_model("bert")
    init_reranker(f"cross-encoder:{folder}")
    assert any(k[0] == "cross-encoder" and k[-2:] == ("torch", None) for k in MODEL_CACHE.keys())  # noqa: SIM118


def test_token_window_for_long_docs() -> None:
    folder = tiny_model("bert")
    rr = init_reranker(f"cross-encoder:{folder}?max_length=32")
    window = rr.token_window()
    assert window.max_tokens == 32 and window.pair_with_query and window.reserved == 3
    assert window.lock is rr._loaded.lock
    chunked = init_reranker(f"cross-encoder:{folder}?max_length=32&long_docs=chunk")
    items = chunked.rank(QUERY, DOCS)
    assert sorted(i.index for i in items) == list(range(len(DOCS)))
