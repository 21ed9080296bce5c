"""The ``llm`` backend through both adapters: LangChain's compressor and LlamaIndex's
postprocessor (with ``Settings.llm``)."""

from __future__ import annotations

import asyncio

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from llama_index.core import Settings
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from langchain_rerankers import RerankCompressor
from llamaindex_rerankers import RerankPostprocessor

from llm.helpers import ScriptedChatModel, ScriptedLlamaLLM, scripted

TEXTS = ["the sky is blue", "apples are red", "grass is green"]


def test_langchain_compressor_with_a_chat_model():
    model = GenericFakeChatModel(messages=iter([AIMessage("[2] > [3] > [1]")]))
    compressor = RerankCompressor("llm", llm=model, top_n=2)
    docs = [Document(page_content=t, metadata={"id": i}) for i, t in enumerate(TEXTS)]
    out = compressor.compress_documents(docs, "red fruit")
    assert [d.metadata["id"] for d in out] == [1, 2]
    assert out[0].metadata["relevance_score"] == 1.0
    assert [d.metadata for d in docs] == [{"id": 0}, {"id": 1}, {"id": 2}]  # inputs untouched


def test_langchain_compressor_async_is_native():
    model = ScriptedChatModel(answer=scripted(["[3] > [1]"]), delay=0.01)
    compressor = RerankCompressor("llm?mode=listwise", llm=model, top_n=None)
    docs = [Document(page_content=t) for t in TEXTS]
    out = asyncio.run(compressor.acompress_documents(docs, "green"))
    assert [d.page_content for d in out] == [TEXTS[2], TEXTS[0], TEXTS[1]]
    assert model.recorder.max_in_flight == 1  # went through the model's async path


def test_llamaindex_postprocessor_with_settings_llm(monkeypatch):
    monkeypatch.setattr(
        Settings,
        "_llm",
        ScriptedLlamaLLM(
            answer=scripted(["[1] ##final score: 0\n[2] ##final score: 3\n[3] ##final score: 1"])
        ),
    )
    post = RerankPostprocessor("llm?mode=pointwise&batch=3", llm=Settings.llm, top_n=2)
    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=str(i)), score=0.5) for i, t in enumerate(TEXTS)
    ]
    out = post.postprocess_nodes(nodes, query_bundle=QueryBundle("red fruit"))
    assert [n.node.id_ for n in out] == ["1", "2"]
    assert out[0].score == 1.0  # grade 3 -> 3/3
    assert [n.score for n in nodes] == [0.5, 0.5, 0.5]
    out = asyncio.run(post.apostprocess_nodes(nodes, query_bundle=QueryBundle("red fruit")))
    assert [n.node.id_ for n in out] == ["1", "2"]
