"""LLM plumbing shared by the ``llm`` reranker and the evaluation's LLM judge.

- :class:`ChatModel`: one interface over a LangChain chat model, a LlamaIndex LLM or a
  ``"provider:model"`` string (LangChain's ``init_chat_model``), sync and async, returning
  the answer's text and the call's token :class:`Usage`.
- :class:`Grader`, :func:`parse_grades`, :data:`UMBRELA_PROMPT`: graded 0-3 relevance
  judgements in UMBRELA's style.
- :func:`rankgpt_messages`, :func:`parse_permutation`: RankGPT's listwise prompt and parser.

Importing this package imports neither LangChain nor LlamaIndex.
"""

from rag_rerankers.llm.chat import ChatModel, Message, Reply, init_chat_model_from_spec
from rag_rerankers.llm.grading import (
    GRADES_SCHEMA,
    UMBRELA_BATCH_PROMPT,
    UMBRELA_PROMPT,
    Grader,
    Grades,
    parse_grades,
    umbrela_messages,
)
from rag_rerankers.llm.permutation import parse_permutation, permutation_ids, rankgpt_messages
from rag_rerankers.llm.text import cut_passage
from rag_rerankers.llm.usage import (
    Usage,
    UsageMeter,
    record_usage,
    track_usage,
    usage_from_mapping,
)

__all__ = [
    "GRADES_SCHEMA",
    "UMBRELA_BATCH_PROMPT",
    "UMBRELA_PROMPT",
    "ChatModel",
    "Grader",
    "Grades",
    "Message",
    "Reply",
    "Usage",
    "UsageMeter",
    "cut_passage",
    "init_chat_model_from_spec",
    "parse_grades",
    "parse_permutation",
    "permutation_ids",
    "rankgpt_messages",
    "record_usage",
    "track_usage",
    "umbrela_messages",
    "usage_from_mapping",
]
