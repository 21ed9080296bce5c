"""The ``llm`` backend: listwise and pointwise reranking through scripted chat models.

Every malformed answer must leave every document in the output exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from rag_rerankers import init_reranker
from rag_rerankers.backends.llm import LLMReranker, sliding_windows
from rag_rerankers.errors import ConfigError, LLMCallError, MissingDependencyError
from rag_rerankers.llm import Usage, track_usage
from rag_rerankers.types import ScoreType

from llm.helpers import ScriptedChatModel, ScriptedLlamaLLM, oracle, scripted, window_passages

DOCS = [f"passage number {i} about topic {i % 3}" for i in range(6)]

# (answer, expected order for 6 documents in one window)
MALFORMED = {
    "empty": ("", [0, 1, 2, 3, 4, 5]),
    "prose": (
        "Passage 3 seems the most relevant to the query, then passage 1.",
        [0, 1, 2, 3, 4, 5],
    ),
    "repeated": ("[3] > [3] > [1]", [2, 0, 1, 3, 4, 5]),
    "out of range": ("[9] > [0] > [2] > [-1] > [7]", [1, 0, 2, 3, 4, 5]),
    "half a permutation": ("[6] > [5] > [4]", [5, 4, 3, 0, 1, 2]),
    "refusal": ("I'm sorry, but I can't help with ranking these passages.", [0, 1, 2, 3, 4, 5]),
    "wrong JSON": ('{"relevant": true, "reason": "all of them"}', [0, 1, 2, 3, 4, 5]),
    "bare list": ("4, 2, 6", [3, 1, 5, 0, 2, 4]),
}


def langchain_model(answers):
    return GenericFakeChatModel(messages=iter([AIMessage(a) for a in answers]))


def llamaindex_model(answers):
    return ScriptedLlamaLLM(answer=scripted(answers))


MAKERS = {"langchain": langchain_model, "llamaindex": llamaindex_model}


def order(items):
    return [item.index for item in items]


def assert_each_once(items, n):
    assert sorted(order(items)) == list(range(n)), order(items)
    assert len(items) == n


@pytest.mark.parametrize("framework", MAKERS)
@pytest.mark.parametrize("case", MALFORMED)
def test_listwise_malformed_answers_keep_every_document_once(framework, case):
    answer, expected = MALFORMED[case]
    rr = init_reranker("llm", llm=MAKERS[framework]([answer]))
    items = rr.rank("topic", DOCS)
    assert_each_once(items, len(DOCS))
    assert order(items) == expected
    assert [it.score for it in items] == [1 / r for r in range(1, 7)]


@pytest.mark.parametrize("case", ["empty", "prose", "refusal", "wrong JSON"])
def test_unusable_listwise_answer_warns_quoting_it(case, caplog):
    answer, _ = MALFORMED[case]
    rr = init_reranker("llm", llm=langchain_model([answer]))
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        rr.rank("topic", DOCS)
    assert "no usable ranking" in caplog.text
    assert repr(answer[:120]) in caplog.text


def test_partial_answer_does_not_warn(caplog):
    rr = init_reranker("llm", llm=langchain_model(["[2]"]))
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        assert order(rr.rank("q", DOCS)) == [1, 0, 2, 3, 4, 5]
    assert "no usable ranking" not in caplog.text


GRADED = {
    "empty": ("", [0] * 6),
    "prose": ("These passages are all fairly relevant.", [0] * 6),
    "repeated": (
        "[3] ##final score: 3\n[3] ##final score: 0\n[1] ##final score: 2",
        [2, 0, 3, 0, 0, 0],
    ),
    "out of range": (
        "[9] ##final score: 3\n[2] ##final score: 5\n[4] ##final score: 1",
        [0, 0, 0, 1, 0, 0],
    ),
    "half": (
        "[1] ##final score: 1\n[2] ##final score: 3\n[3] ##final score: 2",
        [1, 3, 2, 0, 0, 0],
    ),
    "refusal": ("I'm sorry, I can't assist with that.", [0] * 6),
    "wrong JSON": ('{"ranking": [3, 1, 2]}', [0] * 6),
    "JSON": ('{"grades": [{"id": 6, "score": 3}, {"id": 1, "score": 1}]}', [1, 0, 0, 0, 0, 3]),
}


@pytest.mark.parametrize("framework", MAKERS)
@pytest.mark.parametrize("case", GRADED)
def test_pointwise_malformed_answers_keep_every_document_once(framework, case):
    answer, grades = GRADED[case]
    rr = init_reranker("llm?mode=pointwise&batch=6&normalize=none", llm=MAKERS[framework]([answer]))
    items = rr.rank("topic", DOCS)
    assert_each_once(items, len(DOCS))
    assert {it.index: it.score for it in items} == dict(enumerate(map(float, grades)))
    # higher grade first; equal grades keep input order
    assert order(items) == sorted(range(6), key=lambda i: (-grades[i], i))


def test_pointwise_scores_are_grades_normalized_to_0_1():
    rr = init_reranker(
        "llm?mode=pointwise&batch=2",
        llm=langchain_model(["[1] ##final score: 3\n[2] ##final score: 1"]),
    )
    assert rr.score_type == ScoreType.GRADE
    items = rr.rank("q", ["a", "b"])
    assert [(it.index, round(it.score, 4), it.metadata["raw_score"]) for it in items] == [
        (0, 1.0, 3.0),
        (1, 0.3333, 1.0),
    ]


def test_pointwise_batches_and_concurrency():
    model = ScriptedChatModel(
        answer=scripted(["[1] ##final score: 2\n[2] ##final score: 1"]), delay=0.05
    )
    rr = init_reranker("llm?mode=pointwise&batch=2&concurrency=2", llm=model)
    items = asyncio.run(rr.arank("q", [f"d{i}" for i in range(8)]))
    assert_each_once(items, 8)
    assert len(model.recorder.calls) == 4
    assert model.recorder.max_in_flight == 2


class StructuredModel(ScriptedChatModel):
    """A scripted model with structured output: answers ``{"grades": [...]}`` objects."""

    def with_structured_output(self, schema, *, include_raw=False, **kwargs):
        assert include_raw and schema["title"] == "relevance_grades"

        def run(messages):
            n = max(window_passages_count(messages), 1)
            parsed = {"grades": [{"id": i, "score": (i % 4)} for i in range(1, n + 1)]}
            self.recorder.record([], "structured")
            return {
                "raw": AIMessage(
                    "", usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
                ),
                "parsed": parsed,
                "parsing_error": None,
            }

        return RunnableLambda(run)


def window_passages_count(messages):
    text = (
        messages.to_messages()[-1].content if hasattr(messages, "to_messages") else messages[-1][1]
    )
    return sum(1 for line in text.splitlines() if line.startswith("["))


def test_pointwise_uses_structured_output_when_supported():
    model = StructuredModel(answer=scripted(["unused"]))
    rr = init_reranker("llm?mode=pointwise&batch=3&normalize=none", llm=model)
    with track_usage() as meter:
        items = rr.rank("q", ["a", "b", "c"])
    assert {it.index: it.score for it in items} == {0: 1.0, 1: 2.0, 2: 3.0}
    assert meter.total == Usage(calls=1, input_tokens=7, output_tokens=3)
    # structured=false parses the text answer instead
    text_model = StructuredModel(
        answer=scripted(["[1] ##final score: 0\n[2] ##final score: 0\n[3] ##final score: 3"])
    )
    rr = init_reranker("llm?mode=pointwise&batch=3&structured=false&normalize=none", llm=text_model)
    assert order(rr.rank("q", ["a", "b", "c"])) == [2, 0, 1]


# ---------------------------------------------------------------------------- windows
def test_sliding_windows_cover_every_position():
    for n in range(1, 130):
        windows = sliding_windows(n, 20, 10)
        assert windows[0][1] == n and windows[-1][0] == 0
        covered = set().union(*(range(s, e) for s, e in windows))
        assert covered == set(range(n))
        assert all(e - s <= 20 for s, e in windows)


def true_grade(query, text):
    # documents say "grade N"; the oracle ranks by N
    return int(text.split("grade ")[1].split()[0])


@pytest.mark.parametrize("use_async", [False, True])
def test_oracle_over_several_windows_sorts_the_top(use_async):
    grades = [(i * 7) % 10 for i in range(45)]
    docs = [f"doc {i} grade {g} end" for i, g in enumerate(grades)]
    model = ScriptedChatModel(answer=oracle(true_grade))
    rr = init_reranker("llm?window=10&step=5", llm=model)
    items = asyncio.run(rr.arank("q", docs)) if use_async else rr.rank("q", docs)
    assert_each_once(items, 45)
    assert len(model.recorder.calls) == len(sliding_windows(45, 10, 5)) == 8
    top = [grades[i] for i in order(items)[:5]]
    assert top == sorted(grades, reverse=True)[:5]  # window - step = 5 best reach the top


def test_windows_run_bottom_first_and_see_the_previous_windows_result():
    docs = [f"doc {i} grade {i} end" for i in range(30)]  # best at the bottom
    model = ScriptedChatModel(answer=oracle(true_grade))
    order_out = order(init_reranker("llm?window=10&step=5", llm=model).rank("q", docs))
    assert order_out[:5] == [29, 28, 27, 26, 25]
    first_window = window_passages(model.recorder.calls[0][0])
    assert [true_grade("", t) for t in first_window.values()] == list(range(20, 30))
    second_window = window_passages(model.recorder.calls[1][0])  # positions 15-24 after window 1
    assert [true_grade("", t) for t in second_window.values()][:5] == [15, 16, 17, 18, 19]
    assert [true_grade("", t) for t in second_window.values()][5:] == [29, 28, 27, 26, 25]


@pytest.mark.parametrize("seed", range(20))
def test_noisy_oracle_never_drops_a_document(seed):
    grades = [(i * 13 + seed) % 17 for i in range(57)]
    docs = [f"doc {i} grade {g} end" for i, g in enumerate(grades)]
    model = ScriptedChatModel(answer=oracle(true_grade, swaps=6, seed=seed))
    items = init_reranker("llm?window=12&step=6", llm=model).rank("q", docs)
    assert_each_once(items, 57)
    assert Counter(it.document for it in items) == Counter(docs)


def test_passages_are_cut_to_max_passage_tokens():
    model = ScriptedChatModel(answer=scripted(["[1]"]))
    init_reranker("llm?max_passage_tokens=3", llm=model).rank("q", ["a b c d e", "f g"])
    shown = window_passages(model.recorder.calls[0][0])
    assert shown == {1: "a b c", 2: "f g"}


# ---------------------------------------------------------------------------- errors, config
def test_model_error_is_an_llm_call_error_and_fallbacks_apply(caplog):
    failing = ScriptedChatModel(answer=scripted(["x"]), error=TimeoutError("read timed out"))
    with pytest.raises(LLMCallError, match="TimeoutError"):
        init_reranker("llm", llm=failing).rank("apples", ["red apples", "blue sky"])
    chain = init_reranker("llm | bm25", llm=failing)
    items = chain.rank("apples", ["blue sky", "red apples"])
    assert order(items) == [1, 0] and items[0].metadata["reranked_by"] == "bm25"
    passthrough = init_reranker("llm?on_error=passthrough", llm=failing)
    assert order(passthrough.rank("apples", ["blue sky", "red apples"])) == [0, 1]


def test_provider_chain_without_the_integration_falls_back():
    # langchain-openai is not installed here: the member is skipped, bm25 ranks
    rr = init_reranker("llm:openai:gpt-4.1-mini | bm25")
    assert rr.backend == "bm25"
    with pytest.raises(MissingDependencyError, match="langchain-ollama"):
        init_reranker("llm:ollama:qwen3:8b")


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("llm", {}, "needs a chat model"),
        ("llm?window=10&step=10", {"llm": "MODEL"}, "step"),
        ("llm?window=1", {"llm": "MODEL"}, "window"),
        ("llm?batch=0", {"llm": "MODEL"}, "batch"),
        ("llm?mode=both", {"llm": "MODEL"}, "mode"),
        ("llm", {"llm": 42}, "LangChain chat model"),
        ("llm?score_threshold=0.5", {"llm": "MODEL"}, "top_n"),
    ],
)
def test_bad_configuration_is_a_config_error(spec, kwargs, message):
    kwargs = {k: (langchain_model(["x"]) if v == "MODEL" else v) for k, v in kwargs.items()}
    with pytest.raises(ConfigError, match=message):
        init_reranker(spec, **kwargs)


def test_pointwise_accepts_a_score_threshold():
    rr = init_reranker(
        "llm?mode=pointwise&batch=2&score_threshold=0.5",
        llm=langchain_model(["[1] ##final score: 1\n[2] ##final score: 2"]),
    )
    assert order(rr.rank("q", ["a", "b"])) == [1]


def test_dict_spec_with_llm_object():
    rr = init_reranker({"backend": "llm", "llm": langchain_model(["[2] > [1]"]), "top_n": 1})
    assert isinstance(rr, LLMReranker) and rr.name == "llm:" + rr.chat_model.name
    assert order(rr.rank("q", ["a", "b"])) == [1]


# ---------------------------------------------------------------------------- usage, async, cache
def test_usage_per_query_matches_the_calls():
    model = ScriptedChatModel(answer=oracle(true_grade))
    rr = init_reranker("llm?window=4&step=2", llm=model)
    docs = [f"doc {i} grade {i} end" for i in range(9)]
    with track_usage() as first:
        rr.rank("q", docs)
    calls = len(model.recorder.calls)
    assert first.total == Usage(
        calls=calls,
        input_tokens=model.recorder.input_tokens,
        output_tokens=model.recorder.output_tokens,
    )
    assert calls == len(sliding_windows(9, 4, 2))
    assert rr.usage == first.total


def test_queries_run_concurrently_and_windows_in_order():
    model = ScriptedChatModel(answer=oracle(true_grade), delay=0.02)
    rr = init_reranker("llm?window=4&step=2", llm=model)
    docs = [f"doc {i} grade {i} end" for i in range(8)]
    out = asyncio.run(rr.arank_many(["q1", "q2", "q3"], [docs] * 3))
    assert all(order(items)[:2] == [7, 6] for items in out)
    assert model.recorder.max_in_flight == 3  # one window at a time per query, queries together


def test_cache_skips_the_model_on_a_repeat():
    model = ScriptedChatModel(answer=oracle(true_grade))
    rr = init_reranker("llm?cache=memory", llm=model)
    docs = [f"doc {i} grade {i} end" for i in range(5)]
    first = order(rr.rank("q", docs))
    calls = len(model.recorder.calls)
    assert order(rr.rank("q", docs)) == first and len(model.recorder.calls) == calls


def test_pointwise_cache_is_per_document():
    model = ScriptedChatModel(answer=scripted(["[1] ##final score: 3"]))
    rr = init_reranker("llm?mode=pointwise&batch=1&cache=memory", llm=model)
    rr.rank("q", ["a", "b"])
    assert len(model.recorder.calls) == 2
    rr.rank("q", ["a", "b", "c"])
    assert len(model.recorder.calls) == 3  # only "c" was graded
