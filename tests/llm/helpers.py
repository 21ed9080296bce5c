"""Offline chat models for the LLM tests: scripted answers, oracles and call counters.

``ScriptedChatModel`` (LangChain) and ``ScriptedLlamaLLM`` (LlamaIndex) answer each call with
``answer(messages)`` where ``messages`` is a list of ``(role, content)``; they count calls and
report token usage as whitespace words (LangChain ``usage_metadata``, LlamaIndex OpenAI-style
``raw["usage"]``), so tests can check the totals exactly.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from pydantic import ConfigDict, PrivateAttr

Answer = Callable[[list[tuple[str, str]]], str]

_ROLE = {"human": "user", "ai": "assistant", "system": "system"}


def words(text: str) -> int:
    return len(text.split())


def scripted(answers: Sequence[str]) -> Answer:
    """Answer the calls with ``answers`` in turn (the last one repeats)."""
    state = {"i": 0}
    lock = threading.Lock()

    def answer(_messages: list[tuple[str, str]]) -> str:
        with lock:
            i = min(state["i"], len(answers) - 1)
            state["i"] += 1
        return answers[i]

    return answer


class Recorder:
    """Shared bookkeeping: every call's messages and answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[tuple[str, str]], str]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def record(self, messages: list[tuple[str, str]], answer: str) -> None:
        with self.lock:
            self.calls.append((messages, answer))

    @property
    def input_tokens(self) -> int:
        return sum(words(c) for msgs, _ in self.calls for _, c in msgs)

    @property
    def output_tokens(self) -> int:
        return sum(words(a) for _, a in self.calls)


class ScriptedChatModel(BaseChatModel):
    """A LangChain chat model answering with ``answer(messages)``; usage in words."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    answer: Any
    delay: float = 0.0
    error: Any = None
    model_name: str = "scripted"
    _recorder: Recorder = PrivateAttr(default_factory=Recorder)

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _respond(self, messages: list[BaseMessage]) -> ChatResult:
        plain = [(_ROLE.get(m.type, m.type), str(m.content)) for m in messages]
        if self.error is not None:
            raise self.error
        text = self.answer(plain)
        self._recorder.record(plain, text)
        usage = {"input_tokens": sum(words(c) for _, c in plain), "output_tokens": words(text)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))]
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._respond(messages)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        rec = self._recorder
        with rec.lock:
            rec.in_flight += 1
            rec.max_in_flight = max(rec.max_in_flight, rec.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self._respond(messages)
        finally:
            with rec.lock:
                rec.in_flight -= 1


class ScriptedLlamaLLM(CustomLLM):
    """A LlamaIndex LLM answering chats with ``answer(messages)``; usage in ``raw["usage"]``."""

    answer: Any = None
    _recorder: Recorder = PrivateAttr(default_factory=Recorder)

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted-llama", is_chat_model=True)

    def _respond(self, messages: Sequence[ChatMessage]) -> ChatResponse:
        plain = [(m.role.value, m.content or "") for m in messages]
        text = self.answer(plain)
        self._recorder.record(plain, text)
        usage = {"prompt_tokens": sum(words(c) for _, c in plain), "completion_tokens": words(text)}
        return ChatResponse(
            message=ChatMessage(role="assistant", content=text), raw={"usage": usage}
        )

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._respond(messages)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._respond(messages)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = self.answer([("user", prompt)])
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        raise NotImplementedError


# ---------------------------------------------------------------------------- oracles
_PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.DOTALL)


def window_passages(messages: list[tuple[str, str]]) -> dict[int, str]:
    """``{identifier: text}`` of the passages in a RankGPT conversation."""
    out = {}
    for role, content in messages:
        found = _PASSAGE.match(content) if role == "user" else None
        if found:
            out[int(found.group(1))] = found.group(2)
    return out


def query_of(messages: list[tuple[str, str]]) -> str:
    last = messages[-1][1]
    return last.split("Search Query: ", 1)[1].split(". \nRank the", 1)[0]


def oracle(grade: Callable[[str, str], float], *, swaps: int = 0, seed: int = 0) -> Answer:
    """A RankGPT oracle: reads the query and passages from the prompt and answers with the
    passages sorted by ``grade(query, shown_text)`` (ties: prompt order); ``swaps`` random
    adjacent swaps make it noisy."""
    rng = random.Random(seed)

    def answer(messages: list[tuple[str, str]]) -> str:
        query = query_of(messages)
        shown = window_passages(messages)
        order = sorted(shown, key=lambda i: (-grade(query, shown[i]), i))
        for _ in range(swaps):
            j = rng.randrange(len(order) - 1) if len(order) > 1 else 0
            if len(order) > 1:
                order[j], order[j + 1] = order[j + 1], order[j]
        return " > ".join(f"[{i}]" for i in order)

    return answer
