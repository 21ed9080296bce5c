"""Getting models: ``rag-rerankers download``, loading hub names through the cache, offline
mode and the fail-fast path, against a stand-in hub on 127.0.0.1 (``HF_ENDPOINT``) serving
tiny random-weight models, a port nobody listens on, and a server that never answers."""

from __future__ import annotations

import logging
import shutil
import time
import zipfile

import numpy as np
import pytest

from rag_rerankers import ModelNotFoundError, init_reranker
from rag_rerankers.cli import main
from rag_rerankers.hub import SENTENCE_TRANSFORMERS_FILES, HubFiles, fetch
from rag_rerankers.models import MODEL_CACHE

from local.fake_hub import FakeHub, closed_port, hanging_server
from local.helpers import DOCS, FLASHRANK_NAME, QUERY, tiny_model

# huggingface_hub's own behaviour on an unreachable hub, which must never show again.
HF_NOISE = ("Retrying in", "Check your internet connection")


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Hub access allowed (the test suite runs offline), an empty cache in ``tmp_path``."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("RAG_RERANKERS_HUB_TIMEOUT", "1")
    MODEL_CACHE.release(None)  # models are shared per hub name: each test loads its own
    yield tmp_path / "hf-cache"
    MODEL_CACHE.release(None)


def with_decoys(folder, tmp_path):
    """A copy of a model folder plus what a hub repository also holds and a backend must not
    fetch: other weight formats, ONNX and OpenVINO exports, a README."""
    repo = tmp_path / f"repo-{folder.name}"
    shutil.copytree(folder, repo)
    (repo / "onnx").mkdir()
    (repo / "onnx" / "model.onnx").write_bytes(b"\0" * 1000)
    (repo / "onnx" / "config.json").write_text("{}")
    (repo / "openvino").mkdir()
    (repo / "openvino" / "openvino_model.bin").write_bytes(b"\0" * 1000)
    (repo / "README.md").write_text("# a model\n")
    if (repo / "model.safetensors").exists():
        shutil.copy(repo / "model.safetensors", repo / "pytorch_model.bin")
    return repo


def test_select_prefers_safetensors_and_keeps_module_folders() -> None:
    files = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5",
             "onnx/model.onnx", "onnx/config.json", "1_Pooling/config.json",
             "2_Dense/pytorch_model.bin", "2_Dense/config.json", "modules.json",
             "sentencepiece.bpe.model", "README.md", "artifact.metadata"]
    assert SENTENCE_TRANSFORMERS_FILES.select(files) == [
        "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/pytorch_model.bin",
        "config.json", "model.safetensors", "modules.json", "sentencepiece.bpe.model",
    ]
    sharded = ["config.json", "model-00001-of-00002.safetensors",
               "model-00002-of-00002.safetensors", "model.safetensors.index.json",
               "pytorch_model-00001-of-00002.bin"]
    assert HubFiles().select(sharded) == sharded[:4]
    assert (HubFiles() + ("artifact.metadata",)).select(files)[0] == "artifact.metadata"


def test_download_cross_encoder_fetches_exactly_its_files_then_loads_offline(
    online, tmp_path, monkeypatch, capsys
) -> None:
    folder = tiny_model("bert")
    repo = with_decoys(folder, tmp_path)
    with FakeHub({"org/tiny-ce": repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        assert main(["download", "cross-encoder:org/tiny-ce", "--no-progress"]) == 0
        assert hub.fetched("org/tiny-ce") == [
            "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
            "tokenizer_config.json", "vocab.txt",
        ]
    out = capsys.readouterr().out
    snapshot = online / "models--org--tiny-ce" / "snapshots" / hub.commit("org/tiny-ce")
    assert f"cross-encoder:org/tiny-ce: org/tiny-ce -> {snapshot} (6 files" in out
    # The hub is gone: the cached copy loads with offline=true and without it (fallback to
    # the cache), and scores as the original folder does.
    monkeypatch.setenv("HF_ENDPOINT", closed_port())
    expected = init_reranker(f"cross-encoder:{folder}").score(QUERY, DOCS)
    for spec in ("cross-encoder:org/tiny-ce?offline=true", "cross-encoder:org/tiny-ce"):
        MODEL_CACHE.release(None)
        np.testing.assert_allclose(init_reranker(spec).score(QUERY, DOCS), expected, atol=1e-6)


def test_loading_a_hub_name_fetches_it_once(online, tmp_path, monkeypatch) -> None:
    folder = tiny_model("bert2")
    with FakeHub({"org/ce-online": folder}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        rr = init_reranker("cross-encoder:org/ce-online")
        assert rr.num_labels == 2
        fetched = hub.fetched("org/ce-online")
        assert "model.safetensors" in fetched
        MODEL_CACHE.release(None)
        init_reranker("cross-encoder:org/ce-online")  # checks the hub, downloads nothing
        assert hub.fetched("org/ce-online") == fetched
        assert sum(method == "GET" for method, _ in hub.requests) == len(fetched) + 5


def test_download_mxbai_and_colbert(online, tmp_path, monkeypatch, capsys) -> None:
    mxbai, colbert = tiny_model("mxbai"), tiny_model("colbert")
    with FakeHub({"org/tiny-mxbai": with_decoys(mxbai, tmp_path),
                  "org/tiny-colbert": with_decoys(colbert, tmp_path)}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        assert main(["download", "mxbai:org/tiny-mxbai", "colbert:org/tiny-colbert"]) == 0
        assert "artifact.metadata" in hub.fetched("org/tiny-colbert")
        for repo in ("org/tiny-mxbai", "org/tiny-colbert"):
            fetched = hub.fetched(repo)
            assert "model.safetensors" in fetched and "pytorch_model.bin" not in fetched
            assert not [f for f in fetched if "/" in f or f == "README.md"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for backend, repo, local in (("mxbai", "org/tiny-mxbai", mxbai),
                                 ("colbert", "org/tiny-colbert", colbert)):
        got = init_reranker(f"{backend}:{repo}").score(QUERY, DOCS)
        want = init_reranker(f"{backend}:{local}").score(QUERY, DOCS)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_download_a_chain_with_flashrank(online, tmp_path, monkeypatch, capsys) -> None:
    built = tiny_model("flashrank") / FLASHRANK_NAME
    flashrank_repo = tmp_path / "flashrank-repo"
    flashrank_repo.mkdir()
    with zipfile.ZipFile(flashrank_repo / f"{FLASHRANK_NAME}.zip", "w") as zipped:
        for path in built.iterdir():
            zipped.write(path, f"{FLASHRANK_NAME}/{path.name}")
    (flashrank_repo / "ms-marco-MiniLM-L-12-v2.zip").write_bytes(b"another model")
    cache = tmp_path / "flashrank-cache"
    with FakeHub({"org/tiny-ce": tiny_model("bert"), "prithivida/flashrank": flashrank_repo}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        spec = f"cross-encoder:org/tiny-ce | flashrank?cache_dir={cache} | cohere | bm25"
        assert main(["download", spec]) == 0
        assert hub.fetched("prithivida/flashrank") == [f"{FLASHRANK_NAME}.zip"]
        assert hub.fetched("org/tiny-ce")
    out = capsys.readouterr().out
    assert f"-> {cache / FLASHRANK_NAME}" in out
    assert "cohere: nothing to download (api backend)" in out
    assert "bm25: nothing to download (lexical backend)" in out
    monkeypatch.setenv("HF_ENDPOINT", closed_port())
    chain = init_reranker(f"cross-encoder:org/tiny-ce?offline=true | flashrank?cache_dir={cache}&offline=true")
    assert [r.backend for r in [chain, *chain.ranking_setup.fallbacks]] == ["cross-encoder", "flashrank"]
    np.testing.assert_allclose(
        init_reranker(f"flashrank:{cache / FLASHRANK_NAME}").score(QUERY, DOCS),
        init_reranker(f"flashrank:{built}").score(QUERY, DOCS), atol=1e-6)


def _assert_clear(err: str, model: str, backend: str, cache) -> None:
    assert model in err and str(cache / f"models--{model.replace('/', '--')}") in err
    assert f'rag-rerankers download "{backend}:{model}"' in err
    assert "local folder" in err and "HF_ENDPOINT" in err
    for noise in HF_NOISE:
        assert noise not in err


@pytest.mark.parametrize("where", ["closed port", "no answer"])
@pytest.mark.parametrize("backend", ["cross-encoder", "mxbai", "colbert", "embedding", "causal-lm"])
def test_unreachable_hub_fails_fast_and_clearly(online, monkeypatch, caplog, capsys, backend, where) -> None:
    model = f"org/unreachable-{backend}"
    caplog.set_level(logging.DEBUG)
    with hanging_server() as hanging:
        monkeypatch.setenv("HF_ENDPOINT", closed_port() if where == "closed port" else hanging)
        start = time.monotonic()
        with pytest.raises(ModelNotFoundError) as err:
            init_reranker(f"{backend}:{model}")
        elapsed = time.monotonic() - start
    # RAG_RERANKERS_HUB_TIMEOUT=1: one bounded request, no retries (before: 46-93 s of them).
    assert elapsed < 6, elapsed
    _assert_clear(str(err.value), model, backend, online)
    assert ("could not be reached" in str(err.value)) and "RAG_RERANKERS_HUB_TIMEOUT" in str(err.value)
    logs = caplog.text + capsys.readouterr().err
    for noise in HF_NOISE:
        assert noise not in logs


@pytest.mark.parametrize("how", ["offline=true", "HF_HUB_OFFLINE=1"])
def test_offline_never_touches_the_hub(online, tmp_path, monkeypatch, caplog, how) -> None:
    with FakeHub({"org/tiny-ce": tiny_model("bert")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        spec = "cross-encoder:org/tiny-ce"
        if how == "offline=true":
            spec += "?offline=true"
        else:
            monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(ModelNotFoundError) as err:
            init_reranker(spec)
        assert hub.requests == []
    assert f"{how} forbids contacting the hub" in str(err.value)
    _assert_clear(str(err.value), "org/tiny-ce", "cross-encoder", online)
    # And a chain skips the member with one warning, then uses the next one.
    chain = init_reranker(f"{spec} | bm25")
    assert chain.backend == "bm25"
    assert "rag-rerankers download" in caplog.text


def test_download_command_errors(online, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_port())
    assert main(["download", "cross-encoder:org/a", "bm25"]) == 1
    captured = capsys.readouterr()
    assert "bm25: nothing to download" in captured.out
    assert "could not be reached" in captured.err and "org/a" in captured.err
    assert main(["download", "no-such-backend"]) == 2
    assert main(["download", "cross-encoder?no_such_option=1"]) == 2
    assert "Valid options" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["download", "cross-encoder:org/a"]) == 1
    assert "HF_HUB_OFFLINE=1 forbids contacting the hub" in capsys.readouterr().err


def test_missing_repository_and_timeout_setting(online, monkeypatch) -> None:
    with FakeHub({}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        with pytest.raises(ModelNotFoundError, match="'org/nothing' does not exist"):
            fetch("org/nothing", HubFiles(), backend="cross-encoder")
    monkeypatch.setenv("RAG_RERANKERS_HUB_TIMEOUT", "soon")
    from rag_rerankers import ConfigError

    with pytest.raises(ConfigError, match="RAG_RERANKERS_HUB_TIMEOUT"):
        fetch("org/nothing", HubFiles())


def test_a_partly_cached_model_names_what_it_lacks(online, monkeypatch) -> None:
    with FakeHub({"org/partial": tiny_model("bert")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        folder = fetch("org/partial", HubFiles(), backend="cross-encoder", progress=False).folder
    (folder / "model.safetensors").unlink()  # an interrupted download
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=r"is not complete .* lacks model\.safetensors"):
        init_reranker("cross-encoder:org/partial")
