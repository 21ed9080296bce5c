"""rag_rerankers.llm: the chat-model wrapper, usage records, UMBRELA grading and parsing."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage

from rag_rerankers.errors import ConfigError, LLMCallError, MissingDependencyError, RerankerError
from rag_rerankers.llm import (
    UMBRELA_PROMPT,
    ChatModel,
    Grader,
    Usage,
    parse_grades,
    parse_permutation,
    umbrela_messages,
)

from llm.helpers import ScriptedChatModel, ScriptedLlamaLLM, scripted


def test_importing_the_llm_package_imports_no_framework():
    code = (
        "import sys, rag_rerankers.llm; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('langchain', 'llama_index'))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_langchain_model_text_and_usage_metadata():
    message = AIMessage(
        "[2] > [1]", usage_metadata={"input_tokens": 40, "output_tokens": 5, "total_tokens": 45}
    )
    model = ChatModel.of(GenericFakeChatModel(messages=iter([message])))
    reply = model.complete("system", "user")
    assert reply.text == "[2] > [1]"
    assert reply.usage == Usage(calls=1, input_tokens=40, output_tokens=5)
    assert model.framework == "langchain"


def test_model_without_usage_counts_an_unreported_call():
    reply = ChatModel.of(FakeListChatModel(responses=["x"])).chat([("user", "hi")])
    assert reply.usage == Usage(calls=1, unreported_calls=1)
    assert reply.usage.as_dict() == {
        "llm_calls": 1,
        "input_tokens": 0,
        "output_tokens": 0,
        "unreported_calls": 1,
    }


@pytest.mark.parametrize("use_async", [False, True])
def test_llamaindex_llm_messages_roles_and_raw_usage(use_async):
    llm = ScriptedLlamaLLM(answer=scripted(["fine"]))
    model = ChatModel.of(llm)
    messages = [("system", "be brief"), ("user", "one two"), ("assistant", "ok"), ("user", "three")]
    reply = asyncio.run(model.achat(messages)) if use_async else model.chat(messages)
    assert reply.text == "fine"
    assert llm.recorder.calls[0][0] == messages  # roles and order reach the model unchanged
    assert reply.usage == Usage(calls=1, input_tokens=6, output_tokens=1)
    assert model.name == "scripted-llama" and model.framework == "llamaindex"


def test_langchain_async_call_is_native():
    model = ScriptedChatModel(answer=scripted(["a b"]))
    reply = asyncio.run(ChatModel.of(model).acomplete(None, "four words are here"))
    assert reply.usage == Usage(calls=1, input_tokens=4, output_tokens=2)
    assert model.recorder.max_in_flight == 1  # went through _agenerate


def test_usage_adds_up():
    assert sum([Usage(1, 10, 2), Usage(1, 5, 1, 0), Usage(1, 0, 0, 1)], Usage()) == Usage(
        3, 15, 3, 1
    )


@pytest.mark.parametrize("error", [TimeoutError("timed out"), RuntimeError("RateLimitError 429")])
def test_model_errors_become_llm_call_errors(error):
    model = ChatModel.of(ScriptedChatModel(answer=scripted(["x"]), error=error))
    with pytest.raises(LLMCallError) as info:
        model.chat([("user", "hi")])
    assert isinstance(info.value, RerankerError)
    assert info.value.__cause__ is error


def test_timeout_is_retryable():
    err = LLMCallError("m", TimeoutError())
    assert err.retryable and not LLMCallError("m", ValueError("bad")).retryable


def test_provider_spec_missing_integration_names_the_package():
    with pytest.raises(MissingDependencyError) as info:
        ChatModel.of("openai:gpt-4.1-mini")
    assert "pip install langchain-openai" in str(info.value)


def test_provider_spec_with_colons_keeps_the_model_name():
    # "ollama:qwen3:8b": the provider is "ollama", the model "qwen3:8b"
    with pytest.raises(MissingDependencyError) as info:
        ChatModel.of("ollama:qwen3:8b")
    assert "langchain-ollama" in str(info.value)


def test_unknown_provider_is_a_config_error():
    with pytest.raises(ConfigError, match="provider:model"):
        ChatModel.of("nope:some-model")


def test_not_a_model_is_a_config_error():
    with pytest.raises(ConfigError, match="LangChain chat model"):
        ChatModel.of(42)


# ---------------------------------------------------------------------------- grading
def test_single_passage_prompt_is_umbrela_as_published():
    [(role, text)] = umbrela_messages("what is x", ["x is a letter"])
    assert role == "user"
    assert text == UMBRELA_PROMPT.format(query="what is x", passage="x is a letter")
    assert "##final score: score" in text and "integer scale of 0 to 3" in text


@pytest.mark.parametrize(
    ("answer", "n", "expected"),
    [
        ("##final score: 2", 1, [2]),
        ("2", 1, [2]),
        ("[1] ##final score: 3\n[2] ##final score: 0", 2, [3, 0]),
        ("Passage 2: 1\nPassage 1: 3", 2, [3, 1]),
        ("##final score: 1\n##final score: 2", 2, [1, 2]),
        ('{"grades": [{"id": 2, "score": 3}, {"id": 1, "score": 0}]}', 2, [0, 3]),
        ('```json\n{"1": 2, "2": 1}\n```', 2, [2, 1]),
        ("[1] ##final score: 7\n[2] ##final score: 2", 2, [None, 2]),  # out of scale
        ("[3] ##final score: 3\n[1] ##final score: 1", 2, [1, None]),  # out of range id
        ("[1] ##final score: 1\n[1] ##final score: 3", 2, [1, None]),  # repeated id: first
        ("", 2, [None, None]),
        ("I'm sorry, but I can't help with that.", 2, [None, None]),
        ('{"ranking": ["b", "a"]}', 2, [None, None]),  # JSON for the wrong schema
    ],
)
def test_parse_grades(answer, n, expected):
    assert parse_grades(answer, n) == expected


def test_grader_batches_and_usage():
    model = ScriptedChatModel(
        answer=scripted(["[1] ##final score: 3\n[2] ##final score: 1", "[1] ##final score: 0"])
    )
    grader = Grader(model, batch=2, concurrency=1)
    result = grader.grade_with_usage("q", ["a", "b", "c"])
    assert result.grades == [3, 1, 0]
    assert result.usage.calls == 2
    assert result.usage.input_tokens == model.recorder.input_tokens
    assert result.usage.output_tokens == model.recorder.output_tokens


def test_grader_async_runs_batches_concurrently_under_the_limit():
    model = ScriptedChatModel(answer=scripted(["[1] ##final score: 2"]), delay=0.05)
    grader = Grader(model, batch=1, concurrency=3)
    grades = asyncio.run(grader.agrade("q", [f"p{i}" for i in range(8)]))
    assert grades == [2] * 8
    assert model.recorder.max_in_flight == 3


def test_grader_warns_quoting_an_unusable_answer(caplog):
    grader = Grader(FakeListChatModel(responses=["As an AI I cannot grade this."]), batch=2)
    with caplog.at_level(logging.WARNING, logger="rag_rerankers"):
        assert grader.grade("q", ["a", "b"]) == [None, None]
    assert "As an AI I cannot" in caplog.text


def test_permutation_never_loses_or_repeats():
    assert parse_permutation("[3] > [3] > [1] > [9]", 4) == [2, 0, 1, 3]
