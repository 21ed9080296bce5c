"""long_docs: the answer sits past the model's window; truncate misses it, chunk finds it."""

from __future__ import annotations

from rag_rerankers import init_reranker
from rag_rerankers.controls.chunk import windows

from controls.helpers import ANSWER, QUERY, long_doc_candidates

LONG = 1  # index of the long document in long_doc_candidates()


def test_the_answer_is_past_the_models_window(minilm):
    window = minilm.token_window()
    assert window is not None and window.max_tokens == 256
    doc = long_doc_candidates()[LONG]
    tokens = window.tokenizer(doc, add_special_tokens=False, verbose=False)["input_ids"]
    before = window.tokenizer(doc[: doc.index(ANSWER)], add_special_tokens=False)["input_ids"]
    assert len(before) > window.max_tokens and len(tokens) > len(before)


def test_truncate_misses_the_answer_and_chunk_ranks_it_first(minilm):
    docs = long_doc_candidates()
    truncated = minilm.rank(QUERY, docs)
    assert [i.index for i in truncated].index(LONG) >= 2  # the model only sees filler
    chunked = init_reranker("embedding?offline=true&long_docs=chunk").rank(QUERY, docs)
    assert chunked[0].index == LONG
    start, end = chunked[0].metadata["chunk_span"]
    assert ANSWER in docs[LONG][start:end]  # the best window's character span holds the answer
    assert chunked[0].metadata["chunks"] >= 2
    short = [i for i in chunked if i.index != LONG]
    assert all(i.metadata["chunks"] == 1 for i in short)
    assert all(i.metadata["chunk_span"] == (0, len(docs[i.index])) for i in short)


def test_windows_are_model_tokens_that_overlap(minilm):
    window = minilm.token_window()
    doc = long_doc_candidates()[LONG]
    spans = windows(doc, size=64, overlap=16, tokenizer=window.tokenizer, lock=window.lock)
    assert len(spans) > 3
    for (_s1, e1), (s2, _) in zip(spans, spans[1:], strict=False):
        assert s2 < e1  # neighbours share text
    for s, e in spans:
        n = len(window.tokenizer(doc[s:e], add_special_tokens=False)["input_ids"])
        assert n <= 66  # token-aware (re-tokenizing a cut can merge or split one at the edges)


def test_pooling_modes(minilm):
    docs = long_doc_candidates()
    base = "embedding?offline=true&long_docs=chunk&chunk_size=64"
    best = init_reranker(base + "&pooling=max").rank(QUERY, docs)
    mean = init_reranker(base + "&pooling=mean").rank(QUERY, docs)
    first = init_reranker(base + "&pooling=first").rank(QUERY, docs)
    by = lambda items: {i.index: i for i in items}  # noqa: E731
    assert best[0].index == LONG
    assert by(mean)[LONG].score < by(best)[LONG].score  # filler windows pull the mean down
    assert by(first)[LONG].metadata["chunk_span"][0] == 0
    assert by(first)[LONG].score < by(best)[LONG].score


def test_bm25_with_a_word_window():
    docs = long_doc_candidates()
    cut = init_reranker("bm25?chunk_size=50").rank(QUERY, docs)  # truncate to 50 words
    assert cut[-1].index == LONG and cut[-1].score == 0.0
    chunked = init_reranker("bm25?long_docs=chunk&chunk_size=50").rank(QUERY, docs)
    assert chunked[0].index == LONG
    start, end = chunked[0].metadata["chunk_span"]
    assert ANSWER in docs[LONG][start:end]


async def test_async_chunking_matches_sync():
    rr = init_reranker("bm25?long_docs=chunk&chunk_size=30&chunk_overlap=5")
    docs = long_doc_candidates()
    sync = rr.rank(QUERY, docs)
    assert [(i.index, i.score, dict(i.metadata)) for i in await rr.arank(QUERY, docs)] == [
        (i.index, i.score, dict(i.metadata)) for i in sync
    ]
