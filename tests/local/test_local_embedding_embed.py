"""EmbeddingReranker.embed(): the public way to get its embeddings (the FAISS first stage uses it)."""

from __future__ import annotations

import numpy as np
import pytest

from rag_rerankers import InvalidInputError, init_reranker

DOCS = [
    "To patch a punctured inner tube, roughen the area, apply glue and press the patch.",
    "Sourdough starter needs regular feeding with flour and water.",
    "A bicycle's tyre pressure should match the range printed on its sidewall.",
]
QUERY = "How do I fix a flat bicycle tyre?"


def test_embed_returns_normalized_float32_rows(minilm) -> None:
    vectors = minilm.embed(DOCS)
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape[0] == 0


def test_embed_scores_agree_with_rank(minilm) -> None:
    q = minilm.embed([QUERY], kind="query")[0]
    cosine = minilm.embed(DOCS, kind="document") @ q
    assert cosine.tolist() == pytest.approx(minilm.score(QUERY, DOCS), abs=1e-5)


def test_embed_applies_the_prefix_of_its_kind() -> None:
    # Built here, not the session fixture: another test may have released the model cache.
    minilm = init_reranker("embedding?offline=true")
    e5 = init_reranker("embedding?offline=true&query_prefix=query: &document_prefix=passage: ")
    assert e5._loaded is minilm._loaded  # same model, only the prefixes differ
    assert np.allclose(e5.embed(["x"], kind="query"), minilm.embed(["query: x"]), atol=1e-6)
    assert np.allclose(e5.embed(["x"]), minilm.embed(["passage: x"]), atol=1e-6)
    assert np.allclose(minilm.embed(["x"], kind="query"), minilm.embed(["x"]), atol=1e-6)


def test_embed_uses_batch_size_under_the_model_lock(minilm, monkeypatch) -> None:
    rr = init_reranker("embedding?offline=true&batch_size=2")
    st = rr._loaded.model
    calls: list[tuple[int, bool]] = []
    encode = st.encode

    def spy(texts, *args, **kwargs):
        calls.append((kwargs["batch_size"], rr._loaded.lock.locked()))
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(st, "encode", spy)
    assert rr.embed(DOCS).shape == (3, 384)
    assert calls == [(2, True)]


def test_embed_rejects_an_unknown_kind(minilm) -> None:
    with pytest.raises(InvalidInputError, match="kind must be 'query' or 'document'"):
        minilm.embed(["x"], kind="passage")
