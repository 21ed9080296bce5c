"""Differential test: the listwise prompt and parsing against LlamaIndex's ``RankGPTRerank``.

With one window (``window`` >= the number of documents) our listwise mode and
``RankGPTRerank`` must send the same conversation and, for the same scripted answers, give the
same order. Answers RankGPTRerank reads differently on purpose (prose with bare numbers, which
it takes as identifiers) are left out: for those we keep the input order and warn.
"""

from __future__ import annotations

import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.rankgpt_rerank import RankGPTRerank

from rag_rerankers import init_reranker

from llm.helpers import ScriptedLlamaLLM, scripted

DOCS = [
    "Paris is the capital and most populous city of France.",
    "  The Eiffel Tower   is in Paris.\n\nIt was built in 1889.  ",
    "Bananas are rich in potassium.",
    " ".join(f"word{i}" for i in range(400)),  # longer than the 300-word cut
    "Title: Content: Lyon is a city in France.",
]
ANSWERS = [
    "[2] > [1] > [5] > [4] > [3]",
    "[3] > [3] > [1]",
    "[9] > [2] > [0]",
    "[4] > [1]",
    "",
    "[5]>[4]>[3]>[2]>[1]",
    "2 > 1 > 3",
]


def llamaindex_order(answer: str) -> tuple[list[int], list]:
    llm = ScriptedLlamaLLM(answer=scripted([answer]))
    nodes = [
        NodeWithScore(node=TextNode(text=d, id_=str(i)), score=0.0) for i, d in enumerate(DOCS)
    ]
    out = RankGPTRerank(llm=llm, top_n=len(DOCS)).postprocess_nodes(
        nodes, query_bundle=QueryBundle("capital of France")
    )
    return [int(n.node.id_) for n in out], llm.recorder.calls[0][0]


@pytest.mark.parametrize("answer", ANSWERS)
def test_same_prompt_and_same_order_as_llamaindex_rankgpt(answer):
    expected, their_messages = llamaindex_order(answer)
    llm = ScriptedLlamaLLM(answer=scripted([answer]))
    items = init_reranker("llm", llm=llm).rank("capital of France", DOCS)
    assert [item.index for item in items] == expected
    assert llm.recorder.calls[0][0] == their_messages


def test_rankgpt_reads_numbers_in_prose_where_we_do_not():
    # RankGPTRerank takes every digit run as an identifier, so a refusal that mentions
    # "5 passages" moves passage 5 to the top; we keep the input order (and warn).
    answer = "I cannot rank these 5 passages."
    expected, _ = llamaindex_order(answer)
    assert expected[0] == 4
    items = init_reranker("llm", llm=ScriptedLlamaLLM(answer=scripted([answer]))).rank(
        "capital of France", DOCS
    )
    assert [item.index for item in items] == [0, 1, 2, 3, 4]
