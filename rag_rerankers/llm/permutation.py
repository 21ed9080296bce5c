"""RankGPT's listwise prompt and a permutation parser that never loses or repeats a passage.

RankGPT (Sun et al., 2023, "Is ChatGPT Good at Search?") shows the model the passages as
numbered messages and asks for an order such as ``[2] > [3] > [1]``. The messages here are
the ones LlamaIndex's ``RankGPTRerank`` sends, so the same answers give the same order.

Example:
    >>> parse_permutation("[3] > [3] > [1]", 4)
    [2, 0, 1, 3]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag_rerankers.llm.chat import Message
from rag_rerankers.llm.text import cut_passage

RANKGPT_SYSTEM = (
    "You are RankGPT, an intelligent assistant that can rank passages based on their "
    "relevancy to the query."
)
RANKGPT_PREFIX = (
    "I will provide you with {num} passages, each indicated by number identifier []. \n"
    "Rank the passages based on their relevance to query: {query}."
)
RANKGPT_POST = (
    "Search Query: {query}. \nRank the {num} passages above based on their relevance to the "
    "search query. The passages should be listed in descending order using identifiers. The "
    "most relevant passages should be listed first. The output format should be [] > [], e.g., "
    "[1] > [2]. Only response the ranking results, do not say any word or explain."
)


def rankgpt_messages(
    query: str, passages: Sequence[str], max_passage_tokens: int | None = 300
) -> list[Message]:
    """RankGPT's conversation for one window: a system prompt, the instruction, each passage
    as ``[i] text`` (cut to ``max_passage_tokens`` words) acknowledged by the assistant, and
    the final request.

    Example:
        >>> msgs = rankgpt_messages("q", ["first passage", "second"])
        >>> [m[0] for m in msgs]
        ['system', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user']
        >>> msgs[3]
        ('user', '[1] first passage')
    """
    num = len(passages)
    messages: list[Message] = [
        ("system", RANKGPT_SYSTEM),
        ("user", RANKGPT_PREFIX.format(num=num, query=query)),
        ("assistant", "Okay, please provide the passages."),
    ]
    for rank, passage in enumerate(passages, 1):
        content = cut_passage(passage.replace("Title: Content: ", ""), max_passage_tokens)
        messages.append(("user", f"[{rank}] {content}"))
        messages.append(("assistant", f"Received passage [{rank}]."))
    messages.append(("user", RANKGPT_POST.format(query=query, num=num)))
    return messages


_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
# Bare numbers count only when the whole answer is a list of them: "2 > 1 > 3", "2, 1, 3".
_BARE_LIST = re.compile(r"^\s*\d+(?:\s*(?:>|,|;|\s)\s*\d+)*\s*\.?\s*$")


def permutation_ids(answer: str | None, n: int) -> list[int]:
    """The usable 0-based passage indices of an answer, in the model's order: bracketed
    identifiers (``[2] > [1]``), or a bare list of numbers (``2 > 1``); out-of-range and
    repeated identifiers are dropped.

    Example:
        >>> permutation_ids("[5] > [2] > [9] > [2]", 5)
        [4, 1]
        >>> permutation_ids("The most relevant passage is 2.", 3)
        []
    """
    text = answer or ""
    found = _BRACKETED.findall(text)
    if not found and _BARE_LIST.match(text):
        found = re.findall(r"\d+", text)
    seen: list[int] = []
    for token in found:
        i = int(token) - 1
        if 0 <= i < n and i not in seen:
            seen.append(i)
    return seen


def parse_permutation(answer: str | None, n: int) -> list[int]:
    """A full order of ``n`` passages from an answer: the identifiers the answer ranks, then
    every passage it left out, in input order. Each index appears exactly once; an answer
    with nothing usable gives the input order.

    Example:
        >>> parse_permutation("[2] > [1]", 4)
        [1, 0, 2, 3]
        >>> parse_permutation("", 3)
        [0, 1, 2]
    """
    ranked = permutation_ids(answer, n)
    chosen = set(ranked)
    return ranked + [i for i in range(n) if i not in chosen]
