"""Controls on a real (tiny, random-weight) cross-encoder: logits and a query-shared window."""

from __future__ import annotations

import pytest

from rag_rerankers.controls.normalize import sigmoid

from controls.helpers import QUERY, TinyCrossEncoder, long_document


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return TinyCrossEncoder.build(str(tmp_path_factory.mktemp("tiny-ce")))


def test_logits_are_mapped_by_sigmoid_and_kept_raw(folder):
    rr = TinyCrossEncoder(folder)
    docs = ["Patch the inner tube.", "Bake bread.", "Oil the chain."]
    logits = rr.raw_logits(QUERY, docs)
    items = rr.rank(QUERY, docs)
    for item in items:
        assert item.metadata["raw_score"] == pytest.approx(logits[item.index], abs=1e-6)
        assert item.score == pytest.approx(sigmoid(logits[item.index]), abs=1e-6)
    assert [i.index for i in items] == sorted(range(3), key=lambda i: (-logits[i], i))
    raw = TinyCrossEncoder(folder).configure(normalize="none").rank(QUERY, docs)
    assert [i.score for i in raw] == pytest.approx(sorted(logits, reverse=True), abs=1e-6)


def test_chunk_windows_leave_room_for_the_query(folder):
    rr = TinyCrossEncoder(folder).configure(long_docs="chunk", chunk_overlap=4)
    doc = long_document(6)
    items = rr.rank(QUERY, ["short text", doc])
    tokenizer = rr.token_window().tokenizer
    [sent] = rr.calls
    assert len(sent) > 3  # the long document became several windows
    for text in sent:  # query + window + [CLS]/[SEP]/[SEP] fit the 64-token window: no cut
        assert len(tokenizer(QUERY, text)["input_ids"]) <= 64
    by = {i.index: i for i in items}
    start, end = by[1].metadata["chunk_span"]
    assert doc[start:end] in sent and by[1].metadata["chunks"] == len(sent) - 1
    assert by[1].metadata["raw_score"] == pytest.approx(max(rr.raw_logits(QUERY, sent[1:])), abs=1e-5)
