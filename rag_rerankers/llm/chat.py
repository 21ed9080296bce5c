"""One interface over LangChain chat models and LlamaIndex LLMs.

:class:`ChatModel` wraps a LangChain ``BaseChatModel``, a LlamaIndex ``LLM`` (for example
``Settings.llm``) or a ``"provider:model"`` string built with LangChain's
``init_chat_model``. It sends a list of ``(role, content)`` messages and returns the answer's
text with the call's token usage. Neither framework is imported until a model of that
framework is wrapped.

Example:
    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> model = ChatModel.of(FakeListChatModel(responses=["[2] > [1]"]))
    >>> reply = model.complete("You rank passages.", "Rank [1] and [2].")
    >>> reply.text, reply.usage.calls
    ('[2] > [1]', 1)
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.errors import ConfigError, LLMCallError, MissingDependencyError
from rag_rerankers.llm.usage import Usage, UsageMeter, record_usage, usage_from_mapping

Message = tuple[str, str]
"""``(role, content)`` with role ``"system"``, ``"user"`` or ``"assistant"``."""

_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Reply:
    """A model's answer to one call.

    Attributes:
        text: the answer's text (``""`` when the model answered nothing).
        usage: this call's token usage.
        parsed: the structured answer (a dict) when structured output was asked for and the
            model gave one, else ``None``.
    """

    text: str
    usage: Usage = field(default_factory=lambda: Usage(calls=1, unreported_calls=1))
    parsed: Any = None


def _missing_provider(provider: str, exc: BaseException) -> MissingDependencyError:
    package = f"langchain-{provider.replace('_', '-')}"
    err = MissingDependencyError("llm", "llm", package)
    err.install_command = f"pip install {package}"
    err.msg = (
        f"the LLM provider {provider!r} needs the package {package!r} "
        f"(LangChain's integration), which is not installed. Install it with: pip install {package} "
        f"({type(exc).__name__}: {exc})"
    )
    err.args = (err.msg,)
    return err


def init_chat_model_from_spec(spec: str, **kwargs: Any) -> Any:
    """Build a LangChain chat model from ``"provider:model"`` (the model may contain ``:``,
    e.g. ``"ollama:qwen3:8b"``) with ``langchain.chat_models.init_chat_model``.

    Raises:
        MissingDependencyError: ``langchain`` or the provider's integration package is missing.
        ConfigError: the spec is empty or LangChain does not know the provider.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(
            "the llm backend needs a chat model: a 'provider:model' string such as "
            "'llm:openai:gpt-4.1-mini', or a model object passed as llm=..."
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise MissingDependencyError("llm", "llm", "langchain") from None
    provider, sep, name = spec.strip().partition(":")
    if not sep:  # a bare model name: LangChain infers the provider from its prefix
        provider, name = "", provider
    try:
        return init_chat_model(name, model_provider=provider or None, **kwargs)
    except (ImportError, AttributeError) as exc:
        raise _missing_provider(provider or name, exc) from exc
    except ValueError as exc:
        raise ConfigError(
            f"LangChain cannot build the chat model {spec!r}: {exc}. Use 'provider:model', "
            "e.g. 'openai:gpt-4.1-mini' or 'ollama:qwen3:8b'"
        ) from exc


def _framework(obj: Any) -> str | None:
    """``"langchain"``, ``"llamaindex"`` or ``None``, without importing either framework
    (an object of a framework means that framework is already imported)."""
    for klass in type(obj).__mro__:
        module = klass.__module__ or ""
        if module.startswith("langchain_core.language_models") and klass.__name__ in (
            "BaseChatModel",
            "BaseLanguageModel",
        ):
            return "langchain"
        if module.startswith("llama_index.core.") and klass.__name__ in ("LLM", "BaseLLM"):
            return "llamaindex"
    return None


def _langchain_text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return "" if content is None else str(content)


def _langchain_usage(message: Any) -> Usage:
    found = usage_from_mapping(getattr(message, "usage_metadata", None))
    if found is None:
        meta = getattr(message, "response_metadata", None) or {}
        found = usage_from_mapping(meta.get("token_usage") or meta.get("usage")) or (
            usage_from_mapping(meta)
        )
    return found or Usage.from_counts(None, None)


def _llamaindex_usage(response: Any) -> Usage:
    raw = getattr(response, "raw", None)
    candidates: list[Any] = []
    if raw is not None:
        usage = raw.get("usage") if isinstance(raw, Mapping) else getattr(raw, "usage", None)
        candidates.append(usage)
        candidates.append(raw if isinstance(raw, Mapping) else None)
        candidates.append(
            raw.get("usage_metadata")
            if isinstance(raw, Mapping)
            else getattr(raw, "usage_metadata", None)
        )
    candidates.append(getattr(response, "additional_kwargs", None))
    for usage in candidates:
        if usage is None:
            continue
        if not isinstance(usage, Mapping):  # an SDK object (openai.types.CompletionUsage, ...)
            usage = {
                k: getattr(usage, k, None)
                for k in ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens")
            }
        found = usage_from_mapping(usage)
        if found is not None:
            return found
    return Usage.from_counts(None, None)


class ChatModel:
    """A chat model of either framework behind one small interface.

    Build it with :meth:`of`. :meth:`chat`/:meth:`achat` send messages; :meth:`complete`/
    :meth:`acomplete` send a system and a user prompt; :meth:`structured`/:meth:`astructured`
    ask for JSON matching a schema (LangChain's ``with_structured_output`` when the model
    supports it, else ``parsed`` is ``None`` and the caller parses the text). Every failure of
    the model itself is raised as :class:`~rag_rerankers.errors.LLMCallError`.

    Attributes:
        client: the wrapped LangChain or LlamaIndex model.
        framework: ``"langchain"`` or ``"llamaindex"``.
        name: a readable name (``"openai:gpt-4.1-mini"``, or the model's own name).
        model_name: the provider's model name when known (for pricing), else ``None``.
    """

    def __init__(self, client: Any, *, framework: str, name: str, model_name: str | None) -> None:
        self.client = client
        self.framework = framework
        self.name = name
        self.model_name = model_name
        self._structured: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.usage = UsageMeter()
        """Every call's usage since this wrapper was made."""

    def _done(self, reply: Reply) -> Reply:
        self.usage.add(reply.usage)
        record_usage(reply.usage)
        return reply

    # ------------------------------------------------------------------ building
    @classmethod
    def of(cls, model: Any, **init_kwargs: Any) -> ChatModel:
        """Wrap ``model``: a :class:`ChatModel` (returned as is), a LangChain chat model, a
        LlamaIndex LLM, or a ``"provider:model"`` string (built with ``init_chat_model``,
        ``init_kwargs`` passed on, e.g. ``temperature=0``).

        Raises:
            ConfigError: ``model`` is none of these.
        """
        if isinstance(model, ChatModel):
            return model
        if isinstance(model, str):
            client = init_chat_model_from_spec(model, **init_kwargs)
            provider, _, name = model.strip().partition(":")
            return cls(
                client, framework="langchain", name=model.strip(), model_name=name or provider
            )
        framework = _framework(model)
        if framework == "langchain":
            name = _first_attr(model, "model_name", "model", "model_id")
            return cls(
                model, framework=framework, name=name or type(model).__name__, model_name=name
            )
        if framework == "llamaindex":
            name = None
            try:
                name = model.metadata.model_name
            except Exception:  # noqa: BLE001 - metadata is optional on custom LLMs
                name = _first_attr(model, "model", "model_name")
            return cls(
                model, framework=framework, name=name or type(model).__name__, model_name=name
            )
        raise ConfigError(
            f"llm must be a LangChain chat model (BaseChatModel), a LlamaIndex LLM or a "
            f"'provider:model' string, got {type(model).__name__}"
        )

    def __repr__(self) -> str:
        return f"ChatModel(framework={self.framework!r}, name={self.name!r})"

    # ------------------------------------------------------------------ calls
    def chat(self, messages: Sequence[Message]) -> Reply:
        """Send ``messages`` and return the answer.

        Example:
            >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
            >>> ChatModel.of(FakeListChatModel(responses=["ok"])).chat([("user", "hi")]).text
            'ok'
        """
        checked = _check_messages(messages)
        try:
            if self.framework == "langchain":
                answer = self.client.invoke(checked)
                reply = Reply(_langchain_text(answer), _langchain_usage(answer))
            else:
                response = self.client.chat(self._llamaindex_messages(checked))
                reply = Reply(self._llamaindex_text(response), _llamaindex_usage(response))
        except Exception as exc:
            raise LLMCallError(self.name, exc) from exc
        return self._done(reply)

    async def achat(self, messages: Sequence[Message]) -> Reply:
        """Async :meth:`chat` (the framework's native async call)."""
        checked = _check_messages(messages)
        try:
            if self.framework == "langchain":
                answer = await self.client.ainvoke(checked)
                reply = Reply(_langchain_text(answer), _langchain_usage(answer))
            else:
                response = await self.client.achat(self._llamaindex_messages(checked))
                reply = Reply(self._llamaindex_text(response), _llamaindex_usage(response))
        except Exception as exc:
            raise LLMCallError(self.name, exc) from exc
        return self._done(reply)

    def complete(self, system: str | None, user: str) -> Reply:
        """Send a system prompt (may be ``None``) and a user prompt."""
        return self.chat(_pair(system, user))

    async def acomplete(self, system: str | None, user: str) -> Reply:
        """Async :meth:`complete`."""
        return await self.achat(_pair(system, user))

    # ------------------------------------------------------------------ structured output
    def supports_structured(self, schema: Mapping[str, Any]) -> bool:
        """Whether the model gives structured output for ``schema`` (LangChain models whose
        ``with_structured_output`` is implemented)."""
        return self._structured_runnable(schema) is not None

    def structured(self, messages: Sequence[Message], schema: Mapping[str, Any]) -> Reply:
        """Ask for an answer matching the JSON ``schema``; ``parsed`` holds the dict (or
        ``None`` when the answer did not parse). Falls back to :meth:`chat` when the model has
        no structured output."""
        runnable = self._structured_runnable(schema)
        if runnable is None:
            return self.chat(messages)
        checked = _check_messages(messages)
        try:
            out = runnable.invoke(checked)
        except Exception as exc:
            raise LLMCallError(self.name, exc) from exc
        return self._done(_structured_reply(out))

    async def astructured(self, messages: Sequence[Message], schema: Mapping[str, Any]) -> Reply:
        """Async :meth:`structured`."""
        runnable = self._structured_runnable(schema)
        if runnable is None:
            return await self.achat(messages)
        checked = _check_messages(messages)
        try:
            out = await runnable.ainvoke(checked)
        except Exception as exc:
            raise LLMCallError(self.name, exc) from exc
        return self._done(_structured_reply(out))

    def _structured_runnable(self, schema: Mapping[str, Any]) -> Any:
        if self.framework != "langchain":
            return None
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            if key not in self._structured:
                try:
                    self._structured[key] = self.client.with_structured_output(
                        dict(schema), include_raw=True
                    )
                except (NotImplementedError, AttributeError, TypeError, ValueError):
                    self._structured[key] = None
            return self._structured[key]

    # ------------------------------------------------------------------ LlamaIndex helpers
    @staticmethod
    def _llamaindex_messages(messages: Sequence[Message]) -> list[Any]:
        # The wrapped LLM is a LlamaIndex object, so its message type is already imported;
        # looked up rather than imported, so the core never depends on LlamaIndex.
        chat_message = sys.modules["llama_index.core.base.llms.types"].ChatMessage
        return [chat_message(role=role, content=content) for role, content in messages]

    @staticmethod
    def _llamaindex_text(response: Any) -> str:
        message = getattr(response, "message", None)
        content = getattr(message, "content", None) if message is not None else None
        return "" if content is None else str(content)


def _structured_reply(out: Any) -> Reply:
    # include_raw=True: {"raw": AIMessage, "parsed": dict | None, "parsing_error": ...}
    raw = out.get("raw") if isinstance(out, Mapping) else None
    parsed = out.get("parsed") if isinstance(out, Mapping) else None
    if parsed is not None and not isinstance(parsed, Mapping):
        dump = getattr(parsed, "model_dump", None)
        parsed = dump() if callable(dump) else None
    text = _langchain_text(raw) if raw is not None else ""
    if not text and parsed is not None:
        text = json.dumps(parsed)
    return Reply(
        text, _langchain_usage(raw) if raw is not None else Usage.from_counts(None, None), parsed
    )


def _pair(system: str | None, user: str) -> list[Message]:
    return ([("system", system)] if system else []) + [("user", user)]


def _check_messages(messages: Sequence[Message]) -> list[Message]:
    out = []
    for role, content in messages:
        if role not in _ROLES:
            raise ValueError(f"message role must be one of {_ROLES}, got {role!r}")
        out.append((role, str(content)))
    return out


def _first_attr(obj: Any, *names: str) -> str | None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, str) and value:
            return value
    return None
