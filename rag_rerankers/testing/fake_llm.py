"""Offline stand-ins for the LLMs of ``dataset generate`` and ``compare --judge``: deterministic
functions that answer the same prompts a real model gets, for tests, CI and dry runs.

They are not models: the questions are templates filled with a chunk's own key words, and the
grades come from word overlap. They make the pipeline run end to end without a key; the
numbers they lead to say nothing about real rerankers.

Example:
    >>> from rag_rerankers.evaluation.generate import PROMPT
    >>> writer = FakeQuestionWriter()
    >>> writer(PROMPT.format(n=1, source="a.txt", text="Owls hunt voles at dusk."))
    'What is there to know about voles, dusk and hunt?'
    >>> fake_judge("owls voles", "Owls hunt voles at dusk.")
    3
"""

from __future__ import annotations

import re

from rag_rerankers.testing.server import lexical_score

_PASSAGE = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)
_COUNT = re.compile(r"Write (\d+) question")
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{3,}")
_STOP = frozenset(["about", "above", "after", "again", "also", "because", "been", "before", "being", "below", "between", "both", "could", "does", "down", "during", "each", "every", "from", "further", "have", "having", "here", "into", "itself", "just", "more", "most", "much", "must", "only", "other", "over", "same", "should", "some", "such", "than", "that", "their", "them", "then", "there", "these", "they", "this", "those", "through", "under", "until", "very", "were", "what", "when", "where", "which", "while", "with", "would", "your", "yours", "will", "always", "never", "often", "when"])

TEMPLATES = (
    "What is there to know about {a}, {b} and {c}?",
    "How do {a} and {b} work together?",
    "Which rules apply to {a} when {b} is involved?",
    "Why does {a} matter for {b}?",
    "What should I check about {a} and {c}?",
)


class FakeQuestionWriter:
    """Answers the generation prompt with template questions made of the passage's rarest
    long words (one question per requested, ``n`` read from the prompt). Deterministic."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        found = _PASSAGE.search(prompt)
        passage = found.group(1) if found else prompt
        n = int(m.group(1)) if (m := _COUNT.search(prompt)) else 1
        words = [w.lower() for w in _WORD.findall(passage) if w.lower() not in _STOP]
        counts: dict[str, int] = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        # Rare (once in the passage) and long words are the most specific to it.
        ranked = sorted(counts, key=lambda w: (counts[w], -len(w), w))
        ranked += ["details"] * 3
        out = []
        for i in range(n):
            a, b, c = (ranked[(i * 3 + k) % max(len(counts), 1)] if counts else "details"
                       for k in range(3))
            out.append(TEMPLATES[i % len(TEMPLATES)].format(a=a, b=b, c=c))
        return "\n".join(out)


def fake_judge(query: str, passage: str) -> int:
    """A grade 0-3 from the share of the query's words found in the passage
    (:func:`~rag_rerankers.testing.server.lexical_score`)."""
    score = lexical_score(query, passage)
    return 3 if score >= 0.75 else 2 if score >= 0.5 else 1 if score >= 0.25 else 0
