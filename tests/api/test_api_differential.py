"""Differential: LangChain's own Cohere and Voyage rerankers vs our compressor, same fake server."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from langchain_rerankers import RerankCompressor

from api.helpers import DOCS, KEY, QUERY, aclose, make


def _docs():
    return [Document(page_content=t, metadata={"id": i}) for i, t in enumerate(DOCS)]


def _view(out):
    return [(d.page_content, d.metadata["id"], d.metadata["relevance_score"]) for d in out]


async def _same_as(theirs, ours, top_n):
    """Our compressor and a LangChain integration rank alike, sync and async."""
    reference = _view(theirs.compress_documents(_docs(), QUERY))
    assert len(reference) == (top_n or len(DOCS))
    assert _view(ours.compress_documents(_docs(), QUERY)) == reference
    assert _view(await ours.acompress_documents(_docs(), QUERY)) == reference
    assert _view(await theirs.acompress_documents(_docs(), QUERY)) == reference
    await aclose(ours.reranker)


@pytest.mark.parametrize("top_n", [3, None])
async def test_same_as_langchain_cohere(server, top_n):
    from langchain_cohere import CohereRerank

    theirs = CohereRerank(cohere_api_key=KEY, model="rerank-v5.0-pro", base_url=server.url,
                          top_n=top_n)
    await _same_as(theirs, RerankCompressor(reranker=make("cohere", server), top_n=top_n), top_n)


@pytest.mark.parametrize("top_n", [3, None])
async def test_same_as_langchain_voyageai(server, top_n):
    from langchain_voyageai import VoyageAIRerank

    theirs = VoyageAIRerank(api_key=KEY, model="rerank-2.5", base_url=server.base_url("voyage"),
                            top_k=top_n)
    await _same_as(theirs, RerankCompressor(reranker=make("voyage", server), top_n=top_n), top_n)
