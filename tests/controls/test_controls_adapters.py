"""Every control gives the same ranking from a config string, init_reranker keywords, the
LangChain compressor and the LlamaIndex postprocessor (sync and async)."""

from __future__ import annotations

import math
from urllib.parse import urlencode

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from langchain_rerankers import RerankCompressor, init_compressor
from llamaindex_rerankers import RerankPostprocessor, init_postprocessor
from rag_rerankers import init_reranker

pytestmark = pytest.mark.usefixtures("failing_backend")  # the "test-failing" backend

QUERY = "bicycle chain repair"
ROWS = [
    ("Oil it every month.", {"id": 0, "title": "Bicycle chain care"}),
    ("Knead the dough well.", {"id": 1, "title": "Baking bread"}),
    ("Oil it every month.", {"id": 2, "title": "Bicycle chain care"}),
    ("A chain of shops opened downtown.", {"id": 3, "title": "Retail news"}),
    (
        "Spring is here and the garden needs work. " * 6 + "Repair the bicycle chain with a chain tool.",
        {"id": 4, "title": "Weekend notes"},
    ),
]
CASES = {
    "normalize": ("bm25", {"normalize": "minmax"}),
    "threshold": ("bm25", {"score_threshold": 0.5}),
    "rank_fields": ("bm25", {"rank_fields": "title"}),
    "dedup": ("bm25", {"dedup": "collapse"}),
    "long_docs": ("bm25", {"long_docs": "chunk", "chunk_size": 8, "pooling": "max"}),
    "cache": ("bm25", {"cache": "memory"}),
    "fallback": ("test-failing | bm25", {}),
    "passthrough": ("test-failing", {"on_error": "passthrough"}),
}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _core(spec: str, controls: dict, use_string: bool):
    if use_string:
        head, _, rest = spec.partition(" | ")
        sep = "&" if "?" in head else "?"
        text = head + (sep + urlencode(controls) if controls else "") + (f" | {rest}" if rest else "")
        rr = init_reranker(text)
    else:
        rr = init_reranker(spec, **controls)
    items = rr.rank(QUERY, [t for t, _ in ROWS], metadata=[m for _, m in ROWS])
    return [(i.index, i.score, dict(i.metadata)) for i in items]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_same_ranking_from_every_entry_point(case):
    spec, controls = CASES[case]
    want = _core(spec, controls, use_string=False)
    assert want, "every case keeps at least one candidate"
    got_string = _core(spec, controls, use_string=True)
    assert [(i, m) for i, _, m in got_string] == [(i, m) for i, _, m in want]
    assert all(_same(a[1], b[1]) for a, b in zip(got_string, want, strict=True))

    docs = [Document(page_content=t, metadata=m) for t, m in ROWS]
    comp = init_compressor(spec, top_n=None, **controls)
    for out in (comp.compress_documents(docs, QUERY), await comp.acompress_documents(docs, QUERY)):
        assert [d.metadata["id"] for d in out] == [i for i, _, _ in want]
        for d, (_, score, meta) in zip(out, want, strict=True):
            assert _same(d.metadata["relevance_score"], score)
            assert {k: d.metadata[k] for k in meta} == meta

    nodes = [NodeWithScore(node=TextNode(text=t, metadata=m), score=1.0) for t, m in ROWS]
    post = init_postprocessor(spec, top_n=None, metadata_mode=MetadataMode.NONE, **controls)
    for out in (
        post.postprocess_nodes(nodes, query_str=QUERY),
        await post.apostprocess_nodes(nodes, query_str=QUERY),
    ):
        assert [n.node.metadata["id"] for n in out] == [i for i, _, _ in want]
        for n, (_, score, meta) in zip(out, want, strict=True):
            assert _same(n.score, score)
            assert {k: n.node.metadata[k] for k in meta} == meta


def test_controls_work_through_the_adapters_own_constructors():
    comp = RerankCompressor(reranker="bm25?score_threshold=0.5&dedup=collapse", top_n=None)
    docs = [Document(page_content=t, metadata=m) for t, m in ROWS]
    ids = [d.metadata["id"] for d in comp.compress_documents(docs, QUERY)]
    post = RerankPostprocessor(reranker="bm25?score_threshold=0.5&dedup=collapse", top_n=None,
                               metadata_mode=MetadataMode.NONE)
    nodes = [NodeWithScore(node=TextNode(text=t, metadata=m)) for t, m in ROWS]
    assert [n.node.metadata["id"] for n in post.postprocess_nodes(nodes, query_str=QUERY)] == ids
    assert 2 not in ids and ids  # the duplicate of 0 collapsed into it


def test_rank_fields_reads_metadata_from_both_adapters():
    docs = [Document(page_content=t, metadata=m) for t, m in ROWS[:2]]
    out = init_compressor("bm25", top_n=None, rank_fields="title").compress_documents(docs, "baking")
    assert out[0].metadata["id"] == 1 and out[0].page_content == ROWS[1][0]
    nodes = [NodeWithScore(node=TextNode(text=t, metadata=m)) for t, m in ROWS[:2]]
    post = init_postprocessor("bm25", top_n=None, rank_fields="title", metadata_mode=MetadataMode.NONE)
    result = post.postprocess_nodes(nodes, query_str="baking")
    assert result[0].node.metadata["id"] == 1 and result[0].node.text == ROWS[1][0]
