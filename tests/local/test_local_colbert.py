"""colbert backend: a tiny Stanford-NLP ColBERTv2 checkpoint (BERT + ``linear.weight`` +
``artifact.metadata``) loaded by sentence-transformers' ``MultiVectorEncoder``, checked against
an independent re-implementation of colbert-ai's encoding and MaxSim (tolerance 1e-4)."""

from __future__ import annotations

import json
import logging
import string

import numpy as np
import pytest
import torch

from rag_rerankers import ModelNotFoundError, init_reranker
from rag_rerankers.backends.colbert import ColBERTReranker
from rag_rerankers.types import ScoreType

from local.helpers import DOCS, QUERY, tiny_model


def colbert_ai_scores(folder, query: str, docs: list[str], doc_maxlen: int | None = None) -> np.ndarray:
    """colbert-ai 0.2's checkpoint scoring, re-written on plain transformers.

    QueryTokenizer: ``". " + q`` padded to ``query_maxlen``, position 1 replaced by the query
    marker, padding replaced by ``[MASK]`` (attended only with ``attend_to_mask_tokens``).
    DocTokenizer: ``". " + d`` cut at ``doc_maxlen``, position 1 replaced by the document marker.
    ColBERT.doc drops punctuation and padding; colbert_score takes, per query token, the max
    over the remaining document tokens and sums.
    """
    from safetensors.torch import load_file
    from transformers import BertModel, BertTokenizerFast

    meta = json.loads((folder / "artifact.metadata").read_text())
    tok = BertTokenizerFast.from_pretrained(folder)
    bert = BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    linear = load_file(str(folder / "model.safetensors"))["linear.weight"]
    q_marker = tok.convert_tokens_to_ids(meta["query_token_id"])
    d_marker = tok.convert_tokens_to_ids(meta["doc_token_id"])
    with torch.no_grad():
        obj = tok([". " + query], padding="max_length", truncation=True,
                  max_length=meta["query_maxlen"], return_tensors="pt")
        ids, mask = obj["input_ids"], obj["attention_mask"]
        ids[:, 1] = q_marker
        ids[ids == tok.pad_token_id] = tok.mask_token_id
        if meta["attend_to_mask_tokens"]:
            mask[ids == tok.mask_token_id] = 1
        q = torch.nn.functional.normalize(bert(ids, attention_mask=mask)[0] @ linear.T, dim=2)[0]

        obj = tok([". " + d for d in docs], padding="longest", truncation="longest_first",
                  max_length=doc_maxlen or meta["doc_maxlen"], return_tensors="pt")
        ids, mask = obj["input_ids"], obj["attention_mask"]
        ids[:, 1] = d_marker
        d = bert(ids, attention_mask=mask)[0] @ linear.T
        skip = {w for s in string.punctuation for w in (s, tok.encode(s, add_special_tokens=False)[0])}
        keep = torch.tensor([[(x not in skip) and (x != tok.pad_token_id) for x in row] for row in ids.tolist()])
        d = torch.nn.functional.normalize(d * keep.unsqueeze(2).float(), dim=2)
        sim = d @ q.T  # [docs, doc tokens, query tokens]
        sim[~keep] = -9999
        return sim.max(dim=1).values.sum(dim=1).numpy()


@pytest.mark.parametrize("kind", ["colbert", "colbert-short"])
def test_scores_equal_colbert_reference(kind: str) -> None:
    folder = tiny_model(kind)
    rr = init_reranker(f"colbert:{folder}?batch_size=3")
    assert isinstance(rr, ColBERTReranker) and rr.score_type is ScoreType.UNBOUNDED
    ref = colbert_ai_scores(folder, QUERY, DOCS)
    np.testing.assert_allclose(rr.score(QUERY, DOCS), ref, atol=1e-4)
    assert [i.index for i in rr.rank(QUERY, DOCS)] == list(np.argsort(-ref, kind="stable"))


def test_max_length_override_matches_reference(caplog) -> None:
    folder = tiny_model("colbert")
    rr = init_reranker(f"colbert:{folder}?max_length=12")
    ref = colbert_ai_scores(folder, QUERY, DOCS, doc_maxlen=12)
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        np.testing.assert_allclose(rr.score(QUERY, DOCS), ref, atol=1e-4)
        rr.score(QUERY, DOCS)
    msgs = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(msgs) == 1 and "documents were truncated to max_length=12" in msgs[0]


def test_defaults_come_from_artifact_metadata() -> None:
    rr = init_reranker(f"colbert:{tiny_model('colbert-short')}")
    assert rr.max_length == 16


def test_shared_model_and_missing_model(tmp_path) -> None:
    folder = tiny_model("colbert")
    a = init_reranker(f"colbert:{folder}")
    b = init_reranker(f"late-interaction:{folder}?max_length=20")
    assert a._loaded is b._loaded
    with pytest.raises(ModelNotFoundError, match="colbert-ir/colbertv2.0"):
        init_reranker("colbert?offline=true")
    with pytest.raises(ModelNotFoundError, match="gone"):
        init_reranker(f"colbert:{tmp_path / 'gone'}")


async def test_arank() -> None:
    rr = init_reranker(f"colbert:{tiny_model('colbert')}")
    got = await rr.arank(QUERY, DOCS)
    assert [i.index for i in got] == [i.index for i in rr.rank(QUERY, DOCS)]
